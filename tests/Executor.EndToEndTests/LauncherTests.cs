using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Executor.EndToEndTests;

[CollectionDefinition(Name)]
public sealed class LauncherCollection
{
    public const string Name = "0 launcher";
}

/// <summary>
/// launcher.py's own tests (tests/launcher, Python's unittest) inside the runtime image, one xunit case per Python test
/// so that a failure names it. One container runs them all (tests/launcher/report.py as its PID 1, root, no network, the
/// repository mounted read-only, a memory and a pids limit for the kernel's memory and fork bomb cases): no stack, under a
/// minute; a second one, of the data runtime's image, runs the cases that need its packages (which the first skips). The
/// cases are listed from the test files' text; a test that ran but is not listed, or one listed that did not run, fails
/// <see cref="Every_launcher_test_ran_and_passed"/>.
/// </summary>
[Collection(LauncherCollection.Name)]
public sealed class LauncherTests(LauncherTestRun run) : IClassFixture<LauncherTestRun>
{
    /// <summary>As unittest prints them, "test_name (module.Class)": xunit shows only a parameter's first 50 characters.</summary>
    public static TheoryData<string> PythonTests =>
        new(LauncherTestRun.Listed().Select(id => $"{id[(id.LastIndexOf('.') + 1)..]} ({id[..id.LastIndexOf('.')]})"));

    [Theory]
    [MemberData(nameof(PythonTests))]
    public void Launcher_test_passes_in_the_runtime_image(string name)
    {
        var (method, owner) = (name[..name.IndexOf(' ')], name[(name.IndexOf('(') + 1)..^1]);
        var test = $"{owner}.{method}";
        Assert.True(run.Outcomes.TryGetValue(test, out var result), $"{test} did not run (exit {run.ExitCode}):\n{run.Errors}");
        Assert.True(result.Outcome == "passed", $"{test} {result.Outcome}:\n{result.Detail}");
    }

    [Fact]
    public void Every_launcher_test_ran_and_passed()
    {
        Assert.True(run.ExitCode == 0, $"report.py exited {run.ExitCode}:\n{run.Errors}");
        Assert.Equal(LauncherTestRun.Listed().Order(), run.Outcomes.Keys.Order());
    }
}

/// <summary>One run of tests/launcher/report.py in the runtime image, shared by the cases of <see cref="LauncherTests"/>.</summary>
public sealed partial class LauncherTestRun : IAsyncLifetime
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    /// <summary>The tests that need the data runtime's packages (matplotlib, pandas): skipped in the default image.</summary>
    private const string DataTests = "test_kernel.KernelDataTests";

    public Dictionary<string, (string Outcome, string Detail)> Outcomes { get; } = [];

    public int ExitCode { get; private set; }

    /// <summary>unittest's report (stderr), and the docker CLI's own complaints.</summary>
    public string Errors { get; private set; } = "";

    /// <summary>The tests of tests/launcher/test_*.py, as unittest names them (module.Class.test_name).</summary>
    public static IEnumerable<string> Listed()
    {
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Repository.Root, "tests", "launcher"), "test_*.py").Order())
        {
            var module = Path.GetFileNameWithoutExtension(file);
            string? testClass = null;
            foreach (var line in File.ReadLines(file))
            {
                if (ClassLine().Match(line) is { Success: true } c)
                {
                    testClass = c.Groups[1].Value;
                }
                else if (TestLine().Match(line) is { Success: true } t && testClass is not null)
                {
                    yield return $"{module}.{testClass}.{t.Groups[1].Value}";
                }
            }
        }
    }

    public async Task InitializeAsync()
    {
        var (exitCode, errors, outcomes) = await RunAsync(RuntimeImages.Default, "512m");
        var (dataExitCode, dataErrors, dataOutcomes) = await RunAsync(RuntimeImages.Data, "1g", DataTests);
        ExitCode = exitCode != 0 ? exitCode : dataExitCode;
        Errors = errors + dataErrors;
        foreach (var (test, result) in outcomes.Concat(dataOutcomes))  // the data run's outcome replaces the default's skip
        {
            Outcomes[test] = result;
        }
    }

    private static async Task<(int ExitCode, string Errors, Dictionary<string, (string Outcome, string Detail)> Outcomes)> RunAsync(
        string image, string memory, params string[] tests)
    {
        var name = $"executor-launcher-tests-{Guid.NewGuid():N}";
        var start = new ProcessStartInfo("docker",
        [
            "run", "--rm", "--name", name, "--network", "none", "--memory", memory, "--memory-swap", memory, "--pids-limit", "512",
            "-v", $"{Repository.Root}:/src:ro", image, "python3", "/src/tests/launcher/report.py", .. tests,
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await Shell.RunAsync($"docker rm -f {name} >/dev/null 2>&1 || true");
            throw new TimeoutException($"the launcher's tests in {image} took longer than {Limit}: {await errors}");
        }
        var outcomes = new Dictionary<string, (string Outcome, string Detail)>();
        foreach (var line in (await output).Split('\n').Where(l => l.StartsWith("{\"id\": ", StringComparison.Ordinal)))
        {
            using var result = JsonDocument.Parse(line);
            var root = result.RootElement;
            outcomes[root.GetProperty("id").GetString()!] = (root.GetProperty("outcome").GetString()!, root.GetProperty("detail").GetString()!);
        }
        return (process.ExitCode, await errors, outcomes);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [GeneratedRegex(@"^class (\w+)\(")]
    private static partial Regex ClassLine();

    [GeneratedRegex(@"^    def (test_\w+)\(")]
    private static partial Regex TestLine();
}
