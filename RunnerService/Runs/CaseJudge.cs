using System.Text;
using Executor.Contracts;

namespace Executor.Runner.Runs;

/// <summary>
/// Judges a graded run's cases as the launcher reports them (<see cref="LauncherOutput.Cases"/>): each one's verdict
/// from how it ended and, when it exited 0, from its output against the expected one (which never entered the
/// sandbox). Says when to stop early (<see cref="GradingSpec.StopOnFailure"/>), and completes the results with the
/// cases that did not run.
/// </summary>
public sealed class CaseJudge(GradingSpec grading)
{
    /// <summary>What a result keeps of a case's stdout and stderr: enough to see what went wrong, not all of it.</summary>
    public const int KeptOutputChars = 4096;

    private readonly List<TestResult> _results = [];

    /// <summary>Whether a case has failed and the submission asked to stop there.</summary>
    public bool ShouldStop => grading.StopOnFailure && _results.Any(r => r.Verdict != Verdicts.Accepted);

    /// <summary>Judges the cases that have ended since the last call.</summary>
    public void Take(IReadOnlyList<LauncherOutput.CaseOutput> cases)
    {
        for (var i = _results.Count; i < cases.Count && i < grading.Cases.Count; i++)
        {
            _results.Add(Judge(i, grading.Cases[i], cases[i]));
        }
    }

    /// <summary>
    /// Every case's result in order: those judged, then the rest as <paramref name="rest"/> (skipped when stopped early
    /// or the program did not compile; internal_error when the sandbox ended before them).
    /// </summary>
    public IReadOnlyList<TestResult> Results(string rest) =>
        [.. _results, .. grading.Cases.Skip(_results.Count).Select((c, i) => new TestResult(_results.Count + i, c.Name, rest))];

    private TestResult Judge(int index, TestCase test, LauncherOutput.CaseOutput output)
    {
        var record = output.Record;
        var stdout = Encoding.UTF8.GetString(output.Stdout);
        var verdict = record.Outcome switch
        {
            "timed_out" => Verdicts.TimeLimitExceeded,
            "output_limit_exceeded" => Verdicts.OutputLimitExceeded,
            _ when record.OomKills > 0 && record.Signal == 9 => Verdicts.MemoryLimitExceeded,
            _ when record.Signal is not null || record.ExitCode != 0 => Verdicts.RuntimeError,
            _ => null,
        };
        string? diff = null;
        if (verdict is null)
        {
            (var same, diff) = test.ExpectedOutput is { } expected
                ? OutputComparison.Compare(expected, stdout, grading.Comparison, grading.Tolerance)
                : (true, null);
            verdict = same ? Verdicts.Accepted : Verdicts.WrongAnswer;
        }
        return new TestResult(index, test.Name, verdict,
            TimeMs: record.WallMs,
            CpuTimeMs: record.CpuMs,
            MemoryBytes: record.MaxRssBytes,
            ExitCode: record.ExitCode,
            Signal: record.Signal,
            Diff: diff,
            Stdout: Cut(stdout),
            Stderr: output.Stderr.Length == 0 ? null : Cut(Encoding.UTF8.GetString(output.Stderr)),
            StdoutTruncated: record.StdoutTruncated || stdout.Length > KeptOutputChars);
    }

    private static string Cut(string text) => text.Length <= KeptOutputChars ? text : text[..KeptOutputChars];
}
