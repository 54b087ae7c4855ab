using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text.Json;
using Executor.SessionCore.Storage;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
// A type of SessionService's own assembly (every service here has a Program of its own).
using SessionServiceType = Executor.Session.Live.StreamGate;

namespace Executor.UnitTests;

/// <summary>
/// SessionService in process, in Development (as ./run.sh runs it), over a store that fails: a caller gets a problem with
/// a type, a plain detail and a trace id, never the exception's text, the database's path or a stack trace.
/// </summary>
public sealed class ErrorProblemTests : IDisposable
{
    private const string OperatorKey = "error-problem-tests-operator-key";
    private const string Secret = "/very/secret/place/sessions.db";
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("executor-errors-");

    [Theory]
    [InlineData("application/json")]
    [InlineData("text/html")]
    public async Task An_unexpected_exception_is_a_500_problem_with_a_trace_id_and_nothing_of_the_exception(string accept)
    {
        using var factory = Service(new InvalidOperationException($"the store broke at {Secret}"));
        using var client = Client(factory, accept);

        using var response = await client.GetAsync("/result/0123456789abcdef0123456789abcdef");
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal("urn:executor:problem:internal-error", problem.GetProperty("type").GetString());
        Assert.False(string.IsNullOrEmpty(TraceId(problem)));
        Assert.DoesNotContain("secret", body, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(nameof(InvalidOperationException), body, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_store_that_cannot_be_reached_is_a_503_problem_without_its_path_or_driver_message()
    {
        using var factory = Service(new SqliteException($"unable to open database file {Secret}", 14));
        using var client = Client(factory, "application/json");

        using var response = await client.GetAsync("/result/0123456789abcdef0123456789abcdef");
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal("urn:executor:problem:store-unavailable", problem.GetProperty("type").GetString());
        Assert.False(string.IsNullOrEmpty(TraceId(problem)));
        Assert.DoesNotContain("secret", body, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(_data.FullName, body, StringComparison.Ordinal);
        Assert.DoesNotContain("unable to open", body, StringComparison.Ordinal);
    }

    public void Dispose() => _data.Delete(recursive: true);

    /// <summary>The trace id, named as every other member of the API is (snake_case), as the framework's own problems name it here.</summary>
    private static string? TraceId(JsonElement problem) => problem.TryGetProperty("trace_id", out var id) ? id.GetString() : null;

    private WebApplicationFactory<SessionServiceType> Service(Exception failure) => new WebApplicationFactory<SessionServiceType>().WithWebHostBuilder(web =>
    {
        web.UseEnvironment("Development");
        web.UseSetting("Sessions:DatabasePath", Path.Combine(_data.FullName, "sessions.db"));
        web.UseSetting("EXECUTOR_OPERATOR_KEY", OperatorKey);
        web.UseSetting("Sessions:HostSecret", "error-problem-tests-host-secret");
        web.ConfigureServices(services =>
        {
            var registered = services.Last(s => s.ServiceType == typeof(ISessionStore));
            services.Remove(registered);
            services.AddSingleton(provider =>
            {
                var store = DispatchProxy.Create<ISessionStore, FailingLookups>();
                ((FailingLookups)(object)store).Use(provider.GetRequiredService<SqlStore>(), failure);
                return store;
            });
        });
    });

    private static HttpClient Client(WebApplicationFactory<SessionServiceType> factory, string accept)
    {
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", OperatorKey);
        client.DefaultRequestHeaders.Accept.ParseAdd(accept);
        return client;
    }

    /// <summary>The real store, except that looking a session up fails with the given exception.</summary>
    public class FailingLookups : DispatchProxy
    {
        private ISessionStore? _inner;
        private Exception? _failure;

        public void Use(ISessionStore inner, Exception failure) => (_inner, _failure) = (inner, failure);

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            if (targetMethod!.Name == nameof(ISessionStore.FindAsync))
            {
                throw _failure!;
            }
            try
            {
                return targetMethod.Invoke(_inner, args);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
                throw;
            }
        }
    }
}
