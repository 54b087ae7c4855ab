using System.Net;
using Executor.Runner.Runs;
using Executor.Contracts;
using Executor.Sandbox;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Executor.UnitTests;

/// <summary>
/// A run that ended while SessionService was away (restarting): its result waits for delivery, and the host keeps
/// listing the session in its heartbeats until then, or SessionService would end it as lost before the result arrives.
/// </summary>
public sealed class ResultReporterTests
{
    [Fact]
    public async Task A_result_waiting_for_delivery_stays_listed_until_SessionService_accepts_it()
    {
        var session = new Answering { Status = HttpStatusCode.ServiceUnavailable };
        var reporter = new ResultReporter(new SessionClient(new HttpClient(session) { BaseAddress = new Uri("http://session") }),
            Options.Create(new SandboxOptions { Host = "host-1" }), TimeProvider.System, NullLogger<ResultReporter>.Instance);
        await reporter.StartAsync(CancellationToken.None);
        try
        {
            reporter.Hold("s1"); // the run ended: from here on its result is the reporter's
            await reporter.ReportAsync("s1", new RunResult { Status = RunStatus.Completed });
            Assert.Contains("s1", reporter.Undelivered);

            session.Status = HttpStatusCode.OK; // SessionService is back: a retry delivers it
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (reporter.Undelivered.Any() && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
            Assert.Empty(reporter.Undelivered);
            Assert.True(session.Calls >= 2);
        }
        finally
        {
            await reporter.StopAsync(CancellationToken.None);
        }
    }

    private sealed class Answering : HttpMessageHandler
    {
        private int _calls;

        public HttpStatusCode Status { get; set; }

        public int Calls => Volatile.Read(ref _calls);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            return Task.FromResult(new HttpResponseMessage(Status) { Content = new StringContent("""{"stored":true}""") });
        }
    }
}
