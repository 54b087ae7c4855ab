using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Executor.Contracts;
using Executor.Runner.Runs;

namespace Executor.UnitTests;

/// <summary>
/// A graded run's frames (frames.md, section 8) decoded by <see cref="LauncherOutput"/> and judged by
/// <see cref="CaseJudge"/>: the verdict of each way a case can end, stopping at the first failure, the cases that did
/// not run, and frames that break the protocol.
/// </summary>
public class CaseJudgeTests
{
    private static byte[] Frame(char kind, byte[] payload)
    {
        var frame = new byte[5 + payload.Length];
        frame[0] = (byte)kind;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        return frame;
    }

    private static byte[] CaseFrame(int index, string outcome = "exited", int? exitCode = 0, int? signal = null, string stdout = "",
        string stderr = "", int oomKills = 0, long? stdoutSize = null)
    {
        var (outBytes, errBytes) = (Encoding.UTF8.GetBytes(stdout), Encoding.UTF8.GetBytes(stderr));
        var header = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
        {
            ["index"] = index, ["outcome"] = outcome, ["exit_code"] = exitCode, ["signal"] = signal, ["wall_ms"] = 12.5, ["cpu_ms"] = 10.0,
            ["max_rss_bytes"] = 1_200_000, ["oom_kills"] = oomKills, ["stdout_size"] = stdoutSize ?? outBytes.Length,
            ["stderr_size"] = errBytes.Length, ["stdout_truncated"] = false, ["stderr_truncated"] = false,
        });
        var length = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(length, (uint)header.Length);
        return Frame('t', [.. length, .. header, .. outBytes, .. errBytes]);
    }

    private static GradingSpec Spec(bool stop = false, string comparison = Comparisons.TrailingWhitespace, params string?[] expected) =>
        new([.. expected.Select((e, i) => new TestCase($"case {i}", $"{i}\n", e))], comparison, StopOnFailure: stop);

    private static (LauncherOutput Output, CaseJudge Judge) Feed(GradingSpec spec, params byte[][] frames)
    {
        var output = new LauncherOutput(1 << 20, caseLimitBytes: 1 << 16);
        var judge = new CaseJudge(spec);
        foreach (var frame in frames)
        {
            output.Feed(frame);
            judge.Take(output.Cases);
        }
        return (output, judge);
    }

    [Fact]
    public void Each_way_a_case_ends_has_its_verdict()
    {
        var spec = Spec(false, Comparisons.TrailingWhitespace, "1", "2", "3", "4", "5", "6", "7", null);
        var (output, judge) = Feed(spec,
            CaseFrame(0, stdout: "1  \n\n"),
            CaseFrame(1, stdout: "two\n"),
            CaseFrame(2, "timed_out", null, 9),
            CaseFrame(3, "exited", null, 9, oomKills: 1),
            CaseFrame(4, "exited", 3, stderr: "boom"),
            CaseFrame(5, "exited", null, 11),
            CaseFrame(6, "output_limit_exceeded", null, 9, stdout: "7777"),
            CaseFrame(7, stdout: "anything"));

        Assert.False(output.Corrupt);
        var results = judge.Results(Verdicts.Skipped);
        Assert.Equal(
            [Verdicts.Accepted, Verdicts.WrongAnswer, Verdicts.TimeLimitExceeded, Verdicts.MemoryLimitExceeded, Verdicts.RuntimeError,
                Verdicts.RuntimeError, Verdicts.OutputLimitExceeded, Verdicts.Accepted],
            results.Select(r => r.Verdict));
        Assert.Equal("line 1, column 1: expected \"2\", got \"two\"", results[1].Diff);
        Assert.Equal((3, "boom"), (results[4].ExitCode!.Value, results[4].Stderr));
        Assert.Equal(11, results[5].Signal);
        Assert.Equal((12.5, 1_200_000L), (results[0].TimeMs!.Value, results[0].MemoryBytes!.Value));
        var summary = TestSummary.Of(results);
        Assert.Equal((2, 8, Verdicts.WrongAnswer, 1, "case 1"), (summary.Passed, summary.Total, summary.Verdict, summary.FirstFailure, summary.FirstFailureName));
    }

    [Fact]
    public void A_run_that_asked_to_stop_stops_at_the_first_failure_and_the_rest_are_skipped()
    {
        var (_, judge) = Feed(Spec(true, Comparisons.Exact, "a", "b", "c", "d"), CaseFrame(0, stdout: "a"), CaseFrame(1, stdout: "b\n"));

        Assert.True(judge.ShouldStop);
        Assert.Equal([Verdicts.Accepted, Verdicts.WrongAnswer, Verdicts.Skipped, Verdicts.Skipped], judge.Results(Verdicts.Skipped).Select(r => r.Verdict));
        Assert.Equal([2, 3], judge.Results(Verdicts.Skipped).Where(r => r.Verdict == Verdicts.Skipped).Select(r => r.Index));
    }

    [Fact]
    public void Without_stop_on_failure_every_case_runs()
    {
        var (_, judge) = Feed(Spec(false, Comparisons.Exact, "a", "b"), CaseFrame(0, stdout: "x"));

        Assert.False(judge.ShouldStop);
    }

    [Fact]
    public void Tokens_compare_numbers_within_the_tolerance()
    {
        var (_, judge) = Feed(Spec(false, Comparisons.Tokens, "3.14159 2", "1.0"), CaseFrame(0, stdout: "3.1415901\n2\n"), CaseFrame(1, stdout: "1.1"));

        Assert.Equal([Verdicts.Accepted, Verdicts.WrongAnswer], judge.Results(Verdicts.Skipped).Select(r => r.Verdict));
    }

    [Fact]
    public void A_build_record_is_decoded()
    {
        var output = new LauncherOutput(1024);
        output.Feed(Frame('b', Encoding.UTF8.GetBytes("""{"outcome": "exited", "exit_code": 1, "signal": null, "wall_ms": 80.5, "cpu_ms": 70, "max_rss_bytes": 9000000, "output": "main.c:1: error", "output_truncated": false}""")));

        Assert.Equal(("exited", 1, "main.c:1: error"), (output.Build!.Outcome, output.Build.ExitCode!.Value, output.Build.Output));
    }

    [Theory]
    [InlineData(1, null)] // out of order
    [InlineData(0, 999L)] // sizes that do not add up to the frame
    public void A_case_frame_that_breaks_the_protocol_makes_the_output_corrupt(int index, long? stdoutSize)
    {
        var (output, judge) = Feed(Spec(false, Comparisons.Exact, "a"), CaseFrame(index, stdout: "a", stdoutSize: stdoutSize));

        Assert.True(output.Corrupt);
        Assert.Equal([Verdicts.InternalError], judge.Results(Verdicts.InternalError).Select(r => r.Verdict));
    }

    [Fact]
    public void A_case_frame_larger_than_the_case_limit_is_refused_before_it_is_read()
    {
        var output = new LauncherOutput(1024, caseLimitBytes: 16);
        output.Feed(CaseFrame(0, stdout: new string('x', 200_000)));

        Assert.True(output.Corrupt);
        Assert.Empty(output.Cases);
    }
}
