namespace Executor.EndToEndTests;

[Collection(StackCollection.Name)]
public sealed class InputTests(StackFixture stack)
{
    [Fact]
    public async Task Stdin_reaches_the_script()
    {
        var result = await stack.Gateway.RunAsync("import sys\nfor line in sys.stdin:\n    print(line.strip().upper())\n",
            ("stdin", "hello\nworld\n"));

        Assert.Equal("HELLO\nWORLD\n", result.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task Args_reach_the_script_unchanged_and_without_a_shell()
    {
        var repeated = await stack.Gateway.RunAsync("import sys\nprint(sys.argv[1:])\n",
            ("args", "one two"), ("args", "$(rm -rf /)"), ("args", "'quoted'"));
        var json = await stack.Gateway.RunAsync("import sys\nprint(sys.argv[1:])\n", ("args", """["a", "b c", ";ls"]"""));

        Assert.Equal("['one two', '$(rm -rf /)', \"'quoted'\"]\n", repeated.GetProperty("stdout").GetString());
        Assert.Equal("['a', 'b c', ';ls']\n", json.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task Several_files_become_the_working_directory()
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", "from helpers import greet\nprint(greet(open('data.txt').read().strip()))\n");
        form.AddFile("helpers.py", "def greet(name):\n    return f'hello {name}'\n");
        form.AddFile("data.txt", "world\n");

        var result = await stack.Gateway.WaitForResultAsync(await stack.Gateway.SubmitFormAsync(form));

        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal("hello world\n", result.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task A_zip_becomes_the_working_directory_and_entrypoint_picks_the_script()
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("project.zip", ExecutorApi.Zip(
            ("app/run.py", "import sys\nfrom util import double\nprint(double(int(open('data/n.txt').read())), sys.argv[0])\n"),
            ("app/util.py", "def double(x):\n    return 2 * x\n"),
            ("data/n.txt", "21\n"),
            ("main.py", "print('not me')\n")));
        form.Add(new StringContent("app/run.py"), "entrypoint");

        var result = await stack.Gateway.WaitForResultAsync(await stack.Gateway.SubmitFormAsync(form));

        // As with `python3 /sandbox/app/run.py` from /sandbox: its own folder is importable, paths are relative to the root.
        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal("42 /sandbox/app/run.py\n", result.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task A_zip_with_main_py_at_its_root_runs_main_py()
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("project.zip", ExecutorApi.Zip(("main.py", "from pkg.calc import double\nprint(double(21))\n"), ("pkg/__init__.py", ""),
            ("pkg/calc.py", "def double(x):\n    return 2 * x\n"), ("other.py", "print('not me')\n")));

        var result = await stack.Gateway.WaitForResultAsync(await stack.Gateway.SubmitFormAsync(form));

        Assert.Equal("42\n", result.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task A_shorter_timeout_applies_and_is_reported()
    {
        var result = await stack.Gateway.RunAsync("import time\ntime.sleep(30)\n", ("timeout_seconds", "2"));

        Assert.Equal("timed_out", result.GetProperty("status").GetString());
        Assert.Equal(2, result.GetProperty("limits").GetProperty("timeout_seconds").GetInt32());
        Assert.InRange(result.GetProperty("duration_ms").GetDouble(), 1_900, 9_000);
    }

    [Fact]
    public async Task More_memory_can_be_asked_for_and_applies()
    {
        const string Allocate200Mib = "x = bytearray(200 * 1024 * 1024)\nprint('allocated')\n";
        var roomy = await stack.Gateway.RunAsync(Allocate200Mib, ("memory_mb", "320"));
        var tight = await stack.Gateway.RunAsync(Allocate200Mib);

        Assert.Equal("completed", roomy.GetProperty("status").GetString());
        Assert.Equal(320, roomy.GetProperty("limits").GetProperty("memory_mb").GetInt32());
        Assert.False(roomy.GetProperty("warm_start").GetBoolean(), "a pool container has the default memory limit");
        Assert.Equal("memory_exceeded", tight.GetProperty("status").GetString());
        Assert.Equal(128, tight.GetProperty("limits").GetProperty("memory_mb").GetInt32());
    }

    [Fact]
    public async Task The_result_carries_the_whole_model()
    {
        var result = await stack.Gateway.RunAsync("import sys\nprint('o')\nprint('e', file=sys.stderr)\nsum(range(10**6))\n");

        foreach (var field in new[] { "session_id", "status", "logs", "stdout", "stderr", "exit_code", "signal", "stdout_truncated",
            "stderr_truncated", "duration_ms", "cpu_time_ms", "peak_memory_bytes", "created_at", "started_at", "finished_at", "limits" })
        {
            Assert.True(result.TryGetProperty(field, out _), $"the result has no '{field}'");
        }
        Assert.True(result.GetProperty("cpu_time_ms").GetDouble() > 0);
        Assert.True(result.GetProperty("peak_memory_bytes").GetInt64() > 1024 * 1024);
        var created = result.GetProperty("created_at").GetDateTimeOffset();
        var started = result.GetProperty("started_at").GetDateTimeOffset();
        var finished = result.GetProperty("finished_at").GetDateTimeOffset();
        Assert.True(created <= started && started <= finished);
        var limits = result.GetProperty("limits");
        Assert.Equal(10, limits.GetProperty("timeout_seconds").GetInt32());
        Assert.Equal(128, limits.GetProperty("memory_mb").GetInt32());
        Assert.Equal(0.5, limits.GetProperty("cpus").GetDouble());
        Assert.Equal(64, limits.GetProperty("pids_limit").GetInt32());
        Assert.Equal(1024 * 1024, limits.GetProperty("output_limit_bytes").GetInt64());
    }

    [Fact]
    public async Task The_runtime_holds_the_full_standard_library()
    {
        var result = await stack.Gateway.RunAsync("""
            import json, asyncio, sqlite3, unittest, uuid, decimal, fractions, statistics, collections, itertools
            import re, datetime, zoneinfo, csv, hashlib, secrets, dataclasses, typing, pathlib, tempfile, zlib, ssl
            db = sqlite3.connect(":memory:")
            db.execute("create table t (x)")
            print(json.dumps({"ok": asyncio.run(asyncio.sleep(0, result=1))}), uuid.uuid4().version)
            """);

        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal("{\"ok\": 1} 4\n", result.GetProperty("stdout").GetString());
    }
}
