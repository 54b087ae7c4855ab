using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>Piston v2, as its own npm client (piston-client) and raw requests call it, through the gateway.</summary>
[Collection(StackCollection.Name)]
public sealed class PistonTests(StackFixture stack)
{
    [Fact]
    public async Task The_npm_piston_client_lists_runtimes_and_runs_code_unchanged()
    {
        var output = JsonDocument.Parse(await NodeClients.RunAsync("piston", """
            import piston from "piston-client";
            const client = piston({ server: process.argv[2] });
            const runtimes = await client.runtimes();
            const plain = await client.execute("python", "import sys\nprint('hi', sys.argv[1:])\nprint('oops', file=sys.stderr)\nsys.exit(3)");
            const py = await client.execute("py", "print(input()[::-1])", { stdin: "olleh" });
            const data = await client.execute({ language: "python-3.11-data", version: "3.x",
                files: [{ name: "main.py", content: "import pandas as pd\nprint(pd.DataFrame({'a': [1, 2, 3]}).a.sum())" }] });
            const slow = await client.execute("python", "while True: pass", { runTimeout: 1000 });
            const unknown = await client.execute({ language: "python", version: "2.7.18", files: [{ content: "print 1" }] });
            console.log(JSON.stringify({ runtimes, plain, py, data, slow, unknown }));
            """, stack.Gateway.BaseAddress!.ToString())).RootElement;

        var runtimes = output.GetProperty("runtimes").EnumerateArray().ToList();
        var python = runtimes.Single(r => r.GetProperty("language").GetString() == "python");
        Assert.StartsWith("3.11.", python.GetProperty("version").GetString());
        Assert.Contains("py", python.GetProperty("aliases").EnumerateArray().Select(a => a.GetString()));
        Assert.Contains(runtimes, r => r.GetProperty("language").GetString() == "python-3.11-data");

        var plain = output.GetProperty("plain");
        Assert.Equal("python", plain.GetProperty("language").GetString());
        var run = plain.GetProperty("run");
        Assert.Equal("hi ['1', '2', '3']\n", run.GetProperty("stdout").GetString()); // the client's default args
        Assert.Equal("oops\n", run.GetProperty("stderr").GetString());
        Assert.Equal("hi ['1', '2', '3']\noops\n", run.GetProperty("output").GetString());
        Assert.Equal(3, run.GetProperty("code").GetInt32());
        Assert.Equal("RE", run.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, run.GetProperty("signal").ValueKind);
        Assert.True(run.GetProperty("wall_time").GetInt64() >= 0 && run.GetProperty("memory").GetInt64() > 0);

        Assert.Equal("hello\n", output.GetProperty("py").GetProperty("run").GetProperty("stdout").GetString());
        Assert.Equal(JsonValueKind.Null, output.GetProperty("py").GetProperty("run").GetProperty("status").ValueKind);
        Assert.Equal("6\n", output.GetProperty("data").GetProperty("run").GetProperty("stdout").GetString());

        var slow = output.GetProperty("slow").GetProperty("run");
        Assert.Equal(("TO", "SIGKILL"), (slow.GetProperty("status").GetString(), slow.GetProperty("signal").GetString()));
        Assert.Equal("python-2.7.18 runtime is unknown", output.GetProperty("unknown").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Raw_requests_get_piston_s_shapes_and_errors_whatever_the_content_type()
    {
        const string Body = """{"language":"python","version":"3.11","files":[{"name":"prog","content":"aW1wb3J0IG9zCm9zLmtpbGwob3MuZ2V0cGlkKCksIDYp","encoding":"base64"}],"run_memory_limit":-1}""";
        using var aborted = await stack.Gateway.PostAsync("/api/v2/piston/execute", new StringContent(Body, Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.OK, aborted.StatusCode);
        var run = (await aborted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run");
        Assert.Equal(("SG", "SIGABRT"), (run.GetProperty("status").GetString(), run.GetProperty("signal").GetString())); // import os; os.kill(os.getpid(), 6)
        Assert.Equal(JsonValueKind.Null, run.GetProperty("code").ValueKind);

        foreach (var (body, message) in new[]
        {
            ("{\"language\":\"python\",\"version\":\"*\"}", "files is required as an array"),
            ("{\"version\":\"*\",\"files\":[{\"content\":\"print(1)\"}]}", "language is required as a string"),
            ("{\"language\":\"cobol\",\"version\":\"*\",\"files\":[{\"content\":\"x\"}]}", "cobol-* runtime is unknown"),
            ("{\"language\":\"python\",\"version\":\"*\",\"files\":[{\"content\":\"print(1)\"}],\"run_timeout\":9999999}", "run_timeout cannot exceed"),
            ("not json", "not valid JSON"),
        })
        {
            using var response = await stack.Gateway.PostAsync("/api/v2/execute", new StringContent(body));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(message, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("message").GetString(), StringComparison.Ordinal);
        }
    }
}
