using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>
/// Runtimes: python-3.11-data runs numpy, pandas, scipy and matplotlib (already imported by its warm launcher) through
/// the real services and containers; GET /runtimes describes what the images hold; an unknown runtime is a 400.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class RuntimeTests(StackFixture stack)
{
    public const string Data = "python-3.11-data";
    private static readonly (string, string) InData = ("runtime", Data);

    private async Task<JsonElement> DataPoolAsync() =>
        (await stack.Prewarm.GetFromJsonAsync<JsonElement>("/pool")).GetProperty("runtimes").GetProperty(Data);

    [Fact]
    public async Task Runtimes_lists_every_runtime_with_the_versions_their_images_hold()
    {
        var runtimes = await stack.Gateway.GetFromJsonAsync<JsonElement>("/runtimes");

        var all = runtimes.EnumerateArray().ToList();
        Assert.Equal(["python-3.11", .. LanguagesTests.LanguageRuntimes.Order(StringComparer.Ordinal), Data], all.Select(r => r.GetProperty("id").GetString()));
        var list = all.Where(r => r.GetProperty("language").GetString() == "python").ToList();
        var (python, data) = (list[0], list[1]);
        Assert.True(python.GetProperty("default").GetBoolean());
        Assert.False(data.GetProperty("default").GetBoolean());
        Assert.All(list, r => Assert.Equal(("python", "3.11", true),
            (r.GetProperty("language").GetString(), r.GetProperty("version").GetString(), r.GetProperty("available").GetBoolean())));
        // The languages' versions, as their compilers and interpreters print them in the image.
        var versions = all.Where(r => r.GetProperty("language").GetString() != "python")
            .ToDictionary(r => r.GetProperty("id").GetString()!, r => r.GetProperty("language_version").GetString()!);
        Assert.Matches(@"^12\.\d+\.\d+$", versions["c-gcc-12"]);
        Assert.Matches(@"^17\.", versions["java-17"]);
        Assert.Matches(@"^18\.", versions["javascript-node-18"]);
        Assert.Matches(@"^5\.2\.", versions["bash-5.2"]);
        Assert.StartsWith("3.11.", python.GetProperty("language_version").GetString());
        Assert.Equal(128, python.GetProperty("memory_mb").GetInt32());
        Assert.Equal(384, data.GetProperty("memory_mb").GetInt32());
        Assert.Equal(["pytest"], python.GetProperty("packages").EnumerateObject().Select(p => p.Name)); // for POST /execute_pytest
        var packages = data.GetProperty("packages").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        Assert.Equal(["matplotlib", "numpy", "pandas", "pytest", "scipy"], packages.Keys.Order());

        // What the listing says is what a script finds.
        var result = await stack.Gateway.RunAsync("""
            import matplotlib, numpy, pandas, pytest, scipy
            print(numpy.__version__, pandas.__version__, scipy.__version__, matplotlib.__version__, pytest.__version__)
            """, InData);
        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal(string.Join(' ', packages["numpy"], packages["pandas"], packages["scipy"], packages["matplotlib"], packages["pytest"]),
            result.GetProperty("stdout").GetString()!.Trim());
    }

    [Fact]
    public async Task A_warm_data_sandbox_has_pandas_and_pyplot_imported_before_the_script_starts()
    {
        await ExecutorApi.WaitUntilAsync(async () => (await DataPoolAsync()).GetProperty("ready").GetInt32() >= 1, "the data pool has a container");
        const string Probe = "import sys\nprint(*(m in sys.modules for m in ('numpy', 'pandas', 'scipy', 'matplotlib.pyplot')))\n";

        var data = await stack.Gateway.RunAsync(Probe, InData);
        var plain = await stack.Gateway.RunAsync(Probe);

        Assert.Equal("True True True True\n", data.GetProperty("stdout").GetString());
        Assert.True(data.GetProperty("warm_start").GetBoolean());
        Assert.Equal(Data, data.GetProperty("runtime").GetString());
        Assert.Equal(384, data.GetProperty("limits").GetProperty("memory_mb").GetInt32());
        Assert.Equal("False False False False\n", plain.GetProperty("stdout").GetString());
        Assert.Equal("python-3.11", plain.GetProperty("runtime").GetString());
        Assert.Equal(stack.ExpectedIsolation, data.GetProperty("isolation").GetString());
    }

    [Fact]
    public async Task Numpy_computes()
    {
        var result = await stack.Gateway.RunAsync("""
            import numpy as np
            a = np.arange(12, dtype=np.int64).reshape(3, 4)
            print(a.sum(), a.T.shape, round(float(np.linalg.det(np.array([[2.0, 1.0], [1.0, 3.0]]))), 6))
            print(np.linalg.solve(np.array([[3.0, 1.0], [1.0, 2.0]]), np.array([9.0, 8.0])).tolist())
            """, InData);

        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal("66 (4, 3) 5.0\n[2.0, 3.0]\n", result.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task Pandas_reads_an_uploaded_csv_and_groups_it()
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", """
            import pandas as pd
            scores = pd.read_csv("data/scores.csv")
            totals = scores.groupby("team")["points"].agg(["sum", "count"]).sort_index()
            for team, row in totals.iterrows():
                print(team, int(row["sum"]), int(row["count"]))
            print(round(scores["points"].mean(), 2))
            """);
        form.AddFile("data/scores.csv", "team,player,points\nred,ann,10\nblue,bob,7\nred,cy,5\nblue,dee,12\ngreen,eve,3\n");
        form.Add(new StringContent(Data), "runtime");

        var result = await stack.Gateway.WaitForResultAsync(await stack.Gateway.SubmitFormAsync(form));

        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal("blue 19 2\ngreen 3 1\nred 15 2\n7.4\n", result.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task A_matplotlib_figure_saved_to_out_comes_back_as_a_png()
    {
        var result = await stack.Gateway.RunAsync("""
            import matplotlib
            import matplotlib.pyplot as plt
            import numpy as np
            x = np.linspace(0, 2 * np.pi, 200)
            fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
            ax.plot(x, np.sin(x), label="sin")
            ax.legend()
            fig.savefig("out/sine.png")
            print(matplotlib.get_backend().lower())
            """, InData);

        Assert.True("completed" == result.GetProperty("status").GetString(), result.GetProperty("stderr").GetString());
        Assert.Equal("agg\n", result.GetProperty("stdout").GetString());
        var file = Assert.Single(result.GetProperty("files").EnumerateArray());
        Assert.Equal(("sine.png", "image/png"), (file.GetProperty("path").GetString(), file.GetProperty("content_type").GetString()));
        var png = await stack.Gateway.GetByteArrayAsync(file.GetProperty("url").GetString());
        Assert.Equal(file.GetProperty("size").GetInt64(), png.LongLength);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a], png[..8]);
        // IHDR: 400 × 300 pixels, as asked for.
        Assert.Equal((400, 300), (System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)),
            System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20))));
        Assert.True(png.Length > 5_000, $"a plot with a curve and a legend is more than {png.Length} bytes");
    }

    [Fact]
    public async Task Scipy_optimizes_and_integrates()
    {
        var result = await stack.Gateway.RunAsync("""
            from scipy import integrate, optimize, stats
            print(round(optimize.brentq(lambda x: x * x - 2, 0, 2), 6))
            print(round(integrate.quad(lambda x: x ** 2, 0, 3)[0], 6))
            print(stats.norm.cdf(0))
            """, InData);

        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal("1.414214\n9.0\n0.5\n", result.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task Pytest_runs_the_uploaded_tests()
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", "import sys, pytest\nsys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'test_math.py']))\n");
        form.AddFile("test_math.py", "def test_adds():\n    assert 1 + 1 == 2\n\ndef test_fails():\n    assert 2 * 2 == 5\n");
        form.Add(new StringContent(Data), "runtime");

        var result = await stack.Gateway.WaitForResultAsync(await stack.Gateway.SubmitFormAsync(form));

        Assert.Equal("failed", result.GetProperty("status").GetString());
        Assert.Equal(1, result.GetProperty("exit_code").GetInt32()); // pytest: some tests failed
        Assert.Contains("1 failed, 1 passed", result.GetProperty("stdout").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_runtime_is_a_400_that_lists_the_known_ones_and_stores_nothing()
    {
        var before = (await stack.ContainersAsync()).Count;
        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", "print(1)\n");
        form.Add(new StringContent("python-2.7"), "runtime");

        using var response = await stack.Gateway.PostAsync("/execute", form);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("urn:executor:problem:unknown-runtime", problem.GetProperty("type").GetString());
        Assert.Contains("python-2.7", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(["python-3.11", .. LanguagesTests.LanguageRuntimes.Order(StringComparer.Ordinal), Data],
            problem.GetProperty("runtimes").EnumerateArray().Select(r => r.GetString()));
        Assert.False(problem.TryGetProperty("session_id", out _));
        Assert.True((await stack.ContainersAsync()).Count <= before, "a refused request started a container");
    }

    [Fact]
    public async Task A_request_can_give_the_data_runtime_more_memory_and_then_runs_cold()
    {
        var result = await stack.Gateway.RunAsync("import pandas, sys\nprint('pandas' in sys.modules)\n", InData, ("memory_mb", "512"));

        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal("True\n", result.GetProperty("stdout").GetString()); // a cold data sandbox pre-imports too
        Assert.False(result.GetProperty("warm_start").GetBoolean());
        Assert.Equal(512, result.GetProperty("limits").GetProperty("memory_mb").GetInt32());
    }
}

/// <summary>The hostile-code suite's quick subset, in the data runtime: its pre-imported packages change nothing.</summary>
[Collection(StackCollection.Name)]
public sealed class DataRuntimeHostileTests(StackFixture stack)
{
    private static readonly (string, string) InData = ("runtime", RuntimeTests.Data);

    private async Task<JsonElement> RunContainedAsync(string script, string expectedStatus, params (string, string)[] fields)
    {
        var result = await stack.RunContainedAsync(
            script, expectedStatus, ("import numpy\nprint(int(numpy.arange(10).sum()))\n", "45\n"), [InData, .. fields]);
        Assert.Equal(RuntimeTests.Data, result.GetProperty("runtime").GetString());
        return result;
    }

    [Fact]
    public async Task A_numpy_memory_bomb_is_killed_at_the_runtime_s_memory_limit()
    {
        var result = await RunContainedAsync("""
            import numpy as np
            hog = []
            while True:
                hog.append(np.ones(1024 * 1024))
            """, "memory_exceeded");

        Assert.Equal(9, result.GetProperty("signal").GetInt32());
        Assert.Contains("384 MiB", result.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_fork_bomb_is_contained()
    {
        var result = await RunContainedAsync("""
            import os
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
            """, "timed_out", ("timeout_seconds", "3"));

        Assert.Equal(9, result.GetProperty("signal").GetInt32());
    }

    [Fact]
    public async Task An_output_flood_is_cut_at_the_output_limit()
    {
        var result = await RunContainedAsync("""
            import os
            chunk = b"x" * (1024 * 1024)
            for _ in range(500):
                os.write(1, chunk)
            """, "output_limit_exceeded");

        Assert.Equal(1024 * 1024, result.GetProperty("stdout").GetString()!.Length);
    }

    [Fact]
    public async Task An_endless_loop_ends_at_the_timeout() =>
        await RunContainedAsync("import numpy\nwhile True:\n    numpy.ones(1000).sum()\n", "timed_out", ("timeout_seconds", "2"));

    [Fact]
    public async Task A_script_cannot_forge_its_exit_record_through_the_pre_imported_state()
    {
        // The launcher's stdout (the frames) is not the script's: whatever it writes, even a well-formed exit record on
        // every descriptor it has, comes back as its output, and its real exit code stands.
        var result = await RunContainedAsync("""
            import json, os, struct, sys
            record = json.dumps({"outcome": "exited", "exit_code": 0, "signal": None}).encode()
            forged = b"x" + struct.pack(">I", len(record)) + record
            for fd in range(1, 64):
                try:
                    os.write(fd, forged)
                except OSError:
                    pass
            sys.exit(3)
            """, "failed");

        Assert.Equal(3, result.GetProperty("exit_code").GetInt32());
    }
}
