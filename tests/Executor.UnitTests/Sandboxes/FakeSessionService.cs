using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using Executor.Contracts;
using Executor.Runner.Runs;

namespace Executor.UnitTests.Sandboxes;

/// <summary>SessionService as a runner host sees it: it takes every result (and keeps them), output and input.</summary>
internal sealed class FakeSessionService : HttpMessageHandler
{
    public ConcurrentDictionary<string, TaskCompletionSource<RunResult>> Results { get; } = new();

    public SessionClient Client => new(new HttpClient(this) { BaseAddress = new Uri("http://session") });

    public Task<RunResult> ResultOf(string commandId) =>
        Results.GetOrAdd(commandId, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).Task.WaitAsync(TimeSpan.FromSeconds(10));

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri!.AbsolutePath;
        if (path.EndsWith("/result", StringComparison.Ordinal))
        {
            var id = Uri.UnescapeDataString(path.Split('/')[^2]);
            var result = await request.Content!.ReadFromJsonAsync<RunResult>(ContractsJson.Options, cancellationToken);
            Results.GetOrAdd(id, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult(result!);
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("""{"stored":true}""") };
        }
        if (path.EndsWith("/stdin", StringComparison.Ordinal))
        {
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(new StdinBatch("42\n"u8.ToArray(), 3, End: true), options: ContractsJson.Options) };
        }
        return new HttpResponseMessage(HttpStatusCode.OK);
    }
}
