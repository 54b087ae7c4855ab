using System.Text;
using Executor.Contracts;
using Executor.SessionCore.Sessions;

namespace Executor.SessionCore.Submissions;

/// <summary>
/// The rules every submission meets, whichever surface built it: an entry point among its files that is not empty, stdin, arguments and limits within the server's
/// bounds, a runtime id that could be one. The files' own rules (names, sizes, counts, zips) are
/// <see cref="WorkingDirectory"/>'s, checked as they arrive. A refusal is an <see cref="UploadRejectedException"/> with
/// the same problem type on every surface.
/// </summary>
public static class SubmissionRules
{
    /// <summary>The field names of the options, as the native API names them and the problems quote them.</summary>
    public const string StdinField = "stdin";
    public const string ArgsField = "args";
    public const string TimeoutField = "timeout_seconds";
    public const string MemoryField = "memory_mb";
    public const string RuntimeField = "runtime";
    public const string TestCasesField = "test_cases";
    public const string CompilerOptionsField = "compiler_options";

    /// <summary>The shortest time limit a test case may have.</summary>
    public const double MinCaseTimeoutSeconds = 0.1;

    /// <summary>At most this many compiler options, each at most <see cref="MaxCompilerOptionLength"/> characters.</summary>
    public const int MaxCompilerOptions = 64;
    public const int MaxCompilerOptionLength = 512;

    public const int MinTimeoutSeconds = 1;
    public const int MinMemoryMb = 16;

    /// <summary>
    /// The submission of the files gathered in <paramref name="directory"/>, running <paramref name="entrypoint"/> (or
    /// main.py, or the only .py file), with <paramref name="options"/>; refused unless every rule holds.
    /// </summary>
    public static Submission Complete(WorkingDirectory directory, string? entrypoint, RunOptions options, SessionServiceOptions limits)
    {
        var entry = directory.ResolveEntrypoint(entrypoint);
        if (directory.Files.First(f => f.Path == entry).Content.Length == 0)
        {
            throw UploadRejectedException.EmptyScript(entry);
        }
        Check(options, limits);
        return new Submission(entry, directory.Files, options);
    }

    /// <summary>The options' rules: stdin's size, the arguments' count and length, the limits' ranges, the runtime id's form.</summary>
    public static void Check(RunOptions options, SessionServiceOptions limits)
    {
        if (options.Stdin is { } stdin && Encoding.UTF8.GetByteCount(stdin) > limits.MaxStdinBytes)
        {
            throw UploadRejectedException.TooLarge($"stdin exceeds the limit of {limits.MaxStdinBytes} bytes.");
        }
        if (options.Args.Count > limits.MaxArgs)
        {
            throw UploadRejectedException.BadRequest("bad-args", "Too many arguments", $"{options.Args.Count} arguments; at most {limits.MaxArgs} are allowed.");
        }
        if (options.Args.FirstOrDefault(a => a.Length > limits.MaxArgLength || a.Contains('\0', StringComparison.Ordinal)) is { } bad)
        {
            throw UploadRejectedException.BadRequest("bad-args", "Unusable argument",
                $"An argument is longer than {limits.MaxArgLength} characters or holds a NUL character ('{bad[..Math.Min(bad.Length, 40)]}...').");
        }
        if (options.TimeoutSeconds is { } timeout && (timeout < MinTimeoutSeconds || timeout > limits.MaxTimeoutSeconds))
        {
            throw BadTimeout(timeout.ToString(System.Globalization.CultureInfo.InvariantCulture), limits);
        }
        if (options.MemoryMb is { } memory && (memory < MinMemoryMb || memory > limits.MaxMemoryMb))
        {
            throw BadMemory(memory.ToString(System.Globalization.CultureInfo.InvariantCulture), limits);
        }
        if (options.Grading is { } grading)
        {
            CheckGrading(grading, options, limits);
        }
        if (options.Build is { } build)
        {
            CheckBuild(build, limits);
        }
        if (options.Runtime is { } runtime
            && (runtime.Length is 0 or > 63 || !runtime.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-')))
        {
            throw UploadRejectedException.BadRequest("unknown-runtime", "Unknown runtime",
                $"'{RuntimeField}' is a runtime id such as python-3.11 (GET /runtimes lists them); got '{runtime[..Math.Min(runtime.Length, 63)]}'.");
        }
    }

    /// <summary>
    /// Test cases: at least one and at most Sessions:MaxTestCases, their input and expected output within
    /// Sessions:MaxTestCaseBytes together, each time limit within the bounds and all of them (with the compile stage's)
    /// within Sessions:MaxGradingSeconds; a known comparison; never with interactive stdin (each case has its own).
    /// </summary>
    private static void CheckGrading(GradingSpec grading, RunOptions options, SessionServiceOptions limits)
    {
        if (grading.Cases.Count == 0 || grading.Cases.Count > limits.MaxTestCases)
        {
            throw BadCases($"{grading.Cases.Count} test cases; from 1 to {limits.MaxTestCases} are allowed.", "Too many test cases");
        }
        if (options.Interactive)
        {
            throw BadCases("Test cases bring their own stdin: a submission with test cases cannot also take interactive input.");
        }
        var bytes = grading.Cases.Sum(c => (long)Encoding.UTF8.GetByteCount(c.Stdin) + (c.ExpectedOutput is null ? 0 : Encoding.UTF8.GetByteCount(c.ExpectedOutput)));
        if (bytes > limits.MaxTestCaseBytes)
        {
            // A limit of the cases, as their count and time are (bad-test-cases), not of the body, which may hold far more.
            throw BadCases($"The test cases' input and expected output come to {bytes} bytes; at most {limits.MaxTestCaseBytes} are allowed in all.",
                "Test cases too large");
        }
        for (var i = 0; i < grading.Cases.Count; i++)
        {
            var timeout = grading.Cases[i].TimeoutSeconds;
            if (timeout is { } t && (!double.IsFinite(t) || t < MinCaseTimeoutSeconds || t > limits.MaxTimeoutSeconds))
            {
                throw BadCases($"Test case {i} has timeout_seconds {t}; it must be from {MinCaseTimeoutSeconds} to {limits.MaxTimeoutSeconds}.");
            }
            if (grading.Cases[i].Name is { Length: > 200 })
            {
                throw BadCases($"Test case {i}'s name is longer than 200 characters.");
            }
        }
        var total = GradingSeconds(grading, options);
        if (total > limits.MaxGradingSeconds)
        {
            throw BadCases(
                $"The test cases' time limits (and the compile stage's) come to {total:0.#} s; at most {limits.MaxGradingSeconds} s are allowed in all.",
                "Too much time asked for");
        }
        if (!Comparisons.All.Contains(grading.Comparison))
        {
            throw BadCases($"'comparison' is one of {string.Join(", ", Comparisons.All)}; got '{grading.Comparison}'.");
        }
        if (grading.Tolerance is { } tolerance && (!double.IsFinite(tolerance) || tolerance < 0 || tolerance > 1e9))
        {
            throw BadCases($"'tolerance' is a number from 0 up; got {tolerance}.");
        }
    }

    /// <summary>The most a graded submission can take: its cases' time limits and the compile stage's, when it names one.</summary>
    public static double GradingSeconds(GradingSpec grading, RunOptions options) =>
        CaseSeconds(grading, options) + (options.Build?.CompileTimeoutSeconds ?? 0);

    /// <summary>Every case's time limit together (the submission's timeout for those that name none).</summary>
    public static double CaseSeconds(GradingSpec grading, RunOptions options) =>
        grading.Cases.Sum(c => c.TimeoutSeconds ?? options.TimeoutSeconds ?? LimitDefaults.TimeoutSeconds);

    private static void CheckBuild(BuildOptions build, SessionServiceOptions limits)
    {
        if (build.CompilerOptions is { } compilerOptions
            && (compilerOptions.Count > MaxCompilerOptions || compilerOptions.Any(o => o.Length > MaxCompilerOptionLength || o.Contains('\0', StringComparison.Ordinal))))
        {
            throw UploadRejectedException.BadRequest("bad-compiler-options", "Unusable compiler options",
                $"At most {MaxCompilerOptions} compiler options of at most {MaxCompilerOptionLength} characters each, without NUL characters.");
        }
        if (build.CompileTimeoutSeconds is { } t && (!double.IsFinite(t) || t < MinTimeoutSeconds || t > limits.MaxTimeoutSeconds))
        {
            throw UploadRejectedException.BadRequest("bad-compile-timeout", "Invalid compile timeout",
                $"The compile stage's timeout must be from {MinTimeoutSeconds} to {limits.MaxTimeoutSeconds} seconds; got {t}.");
        }
    }

    private static UploadRejectedException BadCases(string detail, string title = "Unusable test cases") =>
        UploadRejectedException.BadRequest("bad-test-cases", title, detail);

    /// <summary>A timeout that is not a whole number of seconds within the bounds, as given.</summary>
    public static UploadRejectedException BadTimeout(string given, SessionServiceOptions limits) =>
        BadLimit(TimeoutField, given, MinTimeoutSeconds, limits.MaxTimeoutSeconds, "seconds");

    /// <summary>A memory limit that is not a whole number of MiB within the bounds, as given.</summary>
    public static UploadRejectedException BadMemory(string given, SessionServiceOptions limits) =>
        BadLimit(MemoryField, given, MinMemoryMb, limits.MaxMemoryMb, "MiB");

    private static UploadRejectedException BadLimit(string field, string given, int min, int max, string unit) =>
        UploadRejectedException.BadRequest("bad-limit", $"Invalid {field}",
            $"'{field}' must be a whole number of {unit} from {min} to {max} (the server's maximum); got '{given}'.");
}
