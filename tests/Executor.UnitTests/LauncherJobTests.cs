using System.Text;
using System.Text.Json;
using Executor.Contracts;
using Executor.Runner.Runs;
using Executor.Sandbox;

namespace Executor.UnitTests;

public class LauncherJobTests
{
    [Fact]
    public void Job_is_a_json_header_line_followed_by_the_raw_file_bytes_and_stdin()
    {
        var request = new RunJob("s1",
            [new RunFile("main.py", Encoding.UTF8.GetBytes("print(1)\n")), new RunFile("lib/util.py", [0, 1, 2])],
            "main.py", ["--flag"], "input", null, null);

        var job = LauncherJob.Encode(request, new SandboxLimits(10, 128, 0.5, 64, 1024));

        var newline = Array.IndexOf(job, (byte)'\n');
        using var header = JsonDocument.Parse(job.AsMemory(0, newline));
        var root = header.RootElement;
        Assert.Equal("main.py", root.GetProperty("entrypoint").GetString());
        Assert.Equal("--flag", root.GetProperty("args")[0].GetString());
        Assert.Equal(9, root.GetProperty("files")[0].GetProperty("size").GetInt64());
        Assert.Equal("lib/util.py", root.GetProperty("files")[1].GetProperty("path").GetString());
        Assert.Equal(5, root.GetProperty("stdin_size").GetInt64());
        Assert.Equal(10_000, root.GetProperty("timeout_ms").GetInt64());
        Assert.Equal(1024, root.GetProperty("output_limit_bytes").GetInt64());
        Assert.Equal("print(1)\n\0\u0001\u0002input", Encoding.UTF8.GetString(job.AsSpan(newline + 1)));
    }
}
