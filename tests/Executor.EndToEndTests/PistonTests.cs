using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>
/// Piston v2, as its own npm client (piston-client) calls it, through the gateway. Raw requests' shapes and errors are
/// proven in process (Executor.ServiceTests' PistonTests).
/// </summary>
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

}
