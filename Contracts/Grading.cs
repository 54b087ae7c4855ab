using System.Globalization;
using System.Text;

namespace Executor.Contracts;

/// <summary>
/// One test case of a graded submission: the program runs once with <see cref="Stdin"/> and its stdout is compared with
/// <see cref="ExpectedOutput"/> (no expected output: any output passes, only the exit counts). The expected output
/// never enters the sandbox: the runner host compares.
/// </summary>
/// <param name="TimeoutSeconds">This case's wall-clock limit; null: the submission's timeout.</param>
public sealed record TestCase(string? Name, string Stdin, string? ExpectedOutput, double? TimeoutSeconds = null);

/// <summary>How a case's output is compared with its expected output.</summary>
public static class Comparisons
{
    /// <summary>Byte for byte (as text).</summary>
    public const string Exact = "exact";

    /// <summary>The default, as Judge0's: trailing whitespace of each line and trailing empty lines do not count.</summary>
    public const string TrailingWhitespace = "trailing_whitespace";

    /// <summary>Whitespace-separated tokens; tokens that are both numbers match within the tolerance.</summary>
    public const string Tokens = "tokens";

    public static IReadOnlyList<string> All { get; } = [Exact, TrailingWhitespace, Tokens];
}

/// <summary>What a graded submission asks for: its cases, how outputs are compared, and whether to stop at the first failure.</summary>
/// <param name="Tolerance">For <see cref="Comparisons.Tokens"/>: numbers match when they differ by at most this, absolutely or relatively (default 1e-6).</param>
/// <param name="StopOnFailure">Run no further case once one has failed; the rest are <see cref="Verdicts.Skipped"/>.</param>
public sealed record GradingSpec(
    IReadOnlyList<TestCase> Cases,
    string Comparison = Comparisons.TrailingWhitespace,
    double? Tolerance = null,
    bool StopOnFailure = false)
{
    public const double DefaultTolerance = 1e-6;
}

/// <summary>How a compiled language's program is built, beyond the runtime's own command.</summary>
/// <param name="CompilerOptions">Arguments added to the compiler's command (Judge0's compiler_options), already split.</param>
/// <param name="CompileTimeoutSeconds">The compile stage's wall-clock limit; null: the host's default (Sandbox:CompileTimeoutSeconds).</param>
public sealed record BuildOptions(IReadOnlyList<string>? CompilerOptions = null, double? CompileTimeoutSeconds = null);

/// <summary>A test case's verdict, and a graded run's when it failed at compile time.</summary>
public static class Verdicts
{
    public const string Accepted = "accepted";
    public const string WrongAnswer = "wrong_answer";
    public const string TimeLimitExceeded = "time_limit_exceeded";
    public const string MemoryLimitExceeded = "memory_limit_exceeded";
    public const string RuntimeError = "runtime_error";
    public const string OutputLimitExceeded = "output_limit_exceeded";
    public const string CompilationError = "compilation_error";

    /// <summary>Not run: an earlier case failed and the submission asked to stop on the first failure, or the run ended first.</summary>
    public const string Skipped = "skipped";

    /// <summary>The sandbox could not say how the case ended (it broke, or the service failed): never the program's fault.</summary>
    public const string InternalError = "internal_error";

    public static IReadOnlyList<string> All { get; } =
        [Accepted, WrongAnswer, TimeLimitExceeded, MemoryLimitExceeded, RuntimeError, OutputLimitExceeded, CompilationError, Skipped, InternalError];
}

/// <summary>How the compile stage of a compiled language ended. Its output is its own, apart from the program's.</summary>
/// <param name="Status">"ok", "failed" (the compiler said no), "timed_out" or "output_limit_exceeded".</param>
public sealed record CompileOutcome(string Status, int? ExitCode, int? Signal, string Output, bool OutputTruncated, double DurationMs, double? CpuTimeMs = null)
{
    public bool Succeeded => Status == "ok";
}

/// <summary>One test case's outcome.</summary>
/// <param name="Index">Its position in the submission's cases, from 0.</param>
/// <param name="Diff">For a wrong answer: where the output first differs from the expected, shortly.</param>
/// <param name="Stdout">What the program wrote, within the per-case limit and cut to a few KiB here.</param>
public sealed record TestResult(
    int Index,
    string? Name,
    string Verdict,
    double? TimeMs = null,
    double? CpuTimeMs = null,
    long? MemoryBytes = null,
    int? ExitCode = null,
    int? Signal = null,
    string? Diff = null,
    string? Stdout = null,
    string? Stderr = null,
    bool StdoutTruncated = false);

/// <summary>A graded run in one line: how many cases passed, and the first that did not.</summary>
/// <param name="Verdict">accepted when every case was; else the first failing case's verdict (or compilation_error).</param>
public sealed record TestSummary(int Passed, int Total, string Verdict, int? FirstFailure = null, string? FirstFailureName = null, double? TotalTimeMs = null)
{
    public static TestSummary Of(IReadOnlyList<TestResult> results)
    {
        var failed = results.FirstOrDefault(r => r.Verdict != Verdicts.Accepted && r.Verdict != Verdicts.Skipped)
            ?? results.FirstOrDefault(r => r.Verdict != Verdicts.Accepted);
        return new TestSummary(
            results.Count(r => r.Verdict == Verdicts.Accepted),
            results.Count,
            failed?.Verdict ?? Verdicts.Accepted,
            failed?.Index,
            failed?.Name,
            Math.Round(results.Sum(r => r.TimeMs ?? 0), 3));
    }
}

/// <summary>
/// Compares a program's output with the expected one (<see cref="Comparisons"/>), and says shortly where they differ.
/// Shared by the runner hosts (test cases) and Judge0's expected_output, so both judge alike.
/// </summary>
public static class OutputComparison
{
    private const int DiffContext = 40;

    /// <summary>Whether <paramref name="actual"/> passes for <paramref name="expected"/>, and if not, a short diff.</summary>
    public static (bool Same, string? Diff) Compare(string expected, string actual, string? mode = null, double? tolerance = null)
    {
        switch (mode ?? Comparisons.TrailingWhitespace)
        {
            case Comparisons.Exact:
                return expected == actual ? (true, null) : (false, LineDiff(expected, actual));
            case Comparisons.Tokens:
                return CompareTokens(expected, actual, tolerance ?? GradingSpec.DefaultTolerance);
            default:
                var (e, a) = (TrimTrailing(expected), TrimTrailing(actual));
                return e == a ? (true, null) : (false, LineDiff(e, a));
        }
    }

    /// <summary>Each line without its trailing whitespace, and no trailing empty lines: what Judge0 compares.</summary>
    public static string TrimTrailing(string text)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').Select(l => l.TrimEnd()).ToList();
        while (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }
        return string.Join('\n', lines);
    }

    private static (bool, string?) CompareTokens(string expected, string actual, double tolerance)
    {
        var want = expected.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        var got = actual.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < Math.Max(want.Length, got.Length); i++)
        {
            if (i >= want.Length)
            {
                return (false, $"token {i + 1}: expected the end of output, got {Quote(got[i])}");
            }
            if (i >= got.Length)
            {
                return (false, $"token {i + 1}: expected {Quote(want[i])}, got the end of output");
            }
            if (!TokensMatch(want[i], got[i], tolerance))
            {
                return (false, $"token {i + 1}: expected {Quote(want[i])}, got {Quote(got[i])}");
            }
        }
        return (true, null);
    }

    private static bool TokensMatch(string want, string got, double tolerance)
    {
        if (want == got)
        {
            return true;
        }
        const NumberStyles number = NumberStyles.Float;
        if (double.TryParse(want, number, CultureInfo.InvariantCulture, out var w) && double.TryParse(got, number, CultureInfo.InvariantCulture, out var g)
            && double.IsFinite(w) && double.IsFinite(g))
        {
            var difference = Math.Abs(w - g);
            return difference <= tolerance || difference <= tolerance * Math.Abs(w);
        }
        return false;
    }

    /// <summary>The first line that differs, with its number: "line 3: expected "42", got "41"".</summary>
    private static string LineDiff(string expected, string actual)
    {
        var want = expected.Split('\n');
        var got = actual.Split('\n');
        for (var i = 0; i < Math.Max(want.Length, got.Length); i++)
        {
            var w = i < want.Length ? want[i] : null;
            var g = i < got.Length ? got[i] : null;
            if (w == g)
            {
                continue;
            }
            if (w is null)
            {
                return $"line {i + 1}: expected the end of output, got {Quote(g!)}";
            }
            if (g is null)
            {
                return $"line {i + 1}: expected {Quote(w)}, got the end of output";
            }
            var column = 0;
            while (column < w.Length && column < g.Length && w[column] == g[column])
            {
                column++;
            }
            var from = Math.Max(0, column - DiffContext / 2);
            return $"line {i + 1}, column {column + 1}: expected {Quote(Cut(w, from))}, got {Quote(Cut(g, from))}";
        }
        return "the outputs differ in their line endings";
    }

    private static string Cut(string line, int from)
    {
        var part = line.Length <= from ? "" : line[from..];
        return (from > 0 ? "…" : "") + (part.Length > DiffContext * 2 ? part[..(DiffContext * 2)] + "…" : part);
    }

    private static string Quote(string text)
    {
        var builder = new StringBuilder("\"");
        foreach (var c in text)
        {
            builder.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\t' => "\\t",
                '\r' => "\\r",
                _ when char.IsControl(c) => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }
        return builder.Append('"').ToString();
    }
}
