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
/// minute; a second one, of the data runtime's image, runs the cases that need its packages (which the first skips); a
/// third, of the languages image (C, C++, Java, JavaScript, bash), runs the commands' and test cases' tests and the whole
/// launcher's again there. The cases are listed from the test files' text; a test that ran but is not listed, or one
/// listed that did not run, fails <see cref="Every_launcher_test_ran_and_passed"/>. Without the languages image (built by
/// eng/prerequisites.sh) the tests that need it are not listed.
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

    /// <summary>The tests of commands and test cases, which need the languages image's tool chains (skipped elsewhere).</summary>
    private const string LanguageTests = "test_commands";

    /// <summary>The whole launcher's tests (and the frames'), run again in the languages image: its Python runs them too.</summary>
    private static readonly string[] AlsoInLanguages = ["test_launcher.WholeLauncherTests", "test_frames"];

    /// <summary>The languages runtimes' image (eng/prerequisites.sh, EXECUTOR_LANGUAGES_IMAGE).</summary>
    public static string LanguagesImage { get; } =
        Environment.GetEnvironmentVariable("EXECUTOR_LANGUAGES_IMAGE") is { Length: > 0 } image ? image : "executor-languages:1";

    private static readonly Lazy<bool> LanguagesImagePresent = new(() =>
    {
        using var inspect = Process.Start(new ProcessStartInfo("docker", ["image", "inspect", LanguagesImage])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        inspect.StandardOutput.ReadToEnd();
        inspect.StandardError.ReadToEnd();
        inspect.WaitForExit();
        return inspect.ExitCode == 0;
    });

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
            if (module == LanguageTests && !LanguagesImagePresent.Value)
            {
                continue;
            }
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
        List<(int ExitCode, string Errors, Dictionary<string, (string Outcome, string Detail)> Outcomes)> runs =
        [
            await RunAsync(RuntimeImages.Default, "512m"),
            await RunAsync(RuntimeImages.Data, "1g", [DataTests]),
        ];
        if (LanguagesImagePresent.Value)
        {
            // /tmp a small tmpfs, as a sandbox's: a test case fills it and the next must have room.
            runs.Add(await RunAsync(LanguagesImage, "1g", [LanguageTests, .. AlsoInLanguages], ["--tmpfs", "/tmp:rw,nosuid,nodev,size=64m"]));
        }
        ExitCode = runs.Select(r => r.ExitCode).FirstOrDefault(code => code != 0);
        Errors = string.Concat(runs.Select(r => r.Errors));
        // A test counts as it went where it could run: a failure anywhere fails it, a pass replaces another image's skip.
        foreach (var (test, result) in runs.SelectMany(r => r.Outcomes))
        {
            if (!Outcomes.TryGetValue(test, out var earlier) || Rank(result.Outcome) > Rank(earlier.Outcome))
            {
                Outcomes[test] = result;
            }
        }
        if (!LanguagesImagePresent.Value)
        {
            foreach (var test in Outcomes.Keys.Where(test => test.StartsWith(LanguageTests + ".", StringComparison.Ordinal)).ToList())
            {
                Outcomes.Remove(test);
            }
        }
    }

    private static int Rank(string outcome) => outcome switch
    {
        "failed" => 2,
        "passed" => 1,
        _ => 0,
    };

    private static async Task<(int ExitCode, string Errors, Dictionary<string, (string Outcome, string Detail)> Outcomes)> RunAsync(
        string image, string memory, string[]? tests = null, string[]? options = null)
    {
        var name = $"executor-launcher-tests-{Guid.NewGuid():N}";
        var start = new ProcessStartInfo("docker",
        [
            "run", "--rm", "--name", name, "--network", "none", "--memory", memory, "--memory-swap", memory, "--pids-limit", "512",
            .. options ?? [], "-v", $"{Repository.Root}:/src:ro", image, "python3", "/src/tests/launcher/report.py", .. tests ?? [],
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
