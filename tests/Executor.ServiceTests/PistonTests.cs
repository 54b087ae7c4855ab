using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Executor.ServiceTests;

/// <summary>Piston v2's shapes and errors for raw requests; the end-to-end suite runs Piston's own npm client for real.</summary>
public sealed class PistonTests : IClassFixture<SessionServiceFixture>
{
    private readonly SessionServiceFixture _service;

    public PistonTests(SessionServiceFixture service)
    {
        _service = service;
        // import os; os.kill(os.getpid(), 6), as a real run ends it.
        _service.Host.Respond = job => Runs.Script(job).Contains("os.kill(os.getpid(), 6)", StringComparison.Ordinal) ? Runs.Signalled(6) : Runs.Echo(job);
    }

    [Fact]
    public async Task Raw_requests_get_piston_s_shapes_and_errors_whatever_the_content_type()
    {
        const string Body = """{"language":"python","version":"3.11","files":[{"name":"prog","content":"aW1wb3J0IG9zCm9zLmtpbGwob3MuZ2V0cGlkKCksIDYp","encoding":"base64"}],"run_memory_limit":-1}""";
        using var aborted = await _service.Client.PostAsync("/api/v2/piston/execute", new StringContent(Body, Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.OK, aborted.StatusCode);
        var run = (await aborted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run");
        Assert.Equal(("SG", "SIGABRT"), (run.GetProperty("status").GetString(), run.GetProperty("signal").GetString())); // import os; os.kill(os.getpid(), 6)
        Assert.Equal(JsonValueKind.Null, run.GetProperty("code").ValueKind);

        foreach (var (body, message) in new[]
        {
            ("{\"language\":\"python\",\"version\":\"*\"}", "files is required as an array"),
            ("{\"version\":\"*\",\"files\":[{\"content\":\"print(1)\"}]}", "language is required as a string"),
            ("{\"language\":\"cobol\",\"version\":\"*\",\"files\":[{\"content\":\"x\"}]}", "cobol-* runtime is unknown"),
            // A language no host offers (this one offers Python alone).
            ("{\"language\":\"gcc\",\"version\":\"*\",\"files\":[{\"content\":\"x\"}]}", "gcc-* runtime is unknown"),
            ("{\"language\":\"python\",\"version\":\"*\",\"files\":[{\"content\":\"print(1)\"}],\"run_timeout\":9999999}", "run_timeout cannot exceed"),
            ("not json", "not valid JSON"),
        })
        {
            using var response = await _service.Client.PostAsync("/api/v2/execute", new StringContent(body));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(message, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("message").GetString(), StringComparison.Ordinal);
        }
    }
}
