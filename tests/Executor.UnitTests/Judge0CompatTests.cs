using Executor.Contracts;
using Executor.Session.Compat;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Executor.SessionCore.Submissions;

namespace Executor.UnitTests;

/// <summary>What Judge0's surface reads and writes beyond its routes: words as bash splits them, batch tokens, verdicts of cases.</summary>
public class Judge0CompatTests
{
    [Theory]
    [InlineData("", new string[0])]
    [InlineData("  -O2   -Wall ", new[] { "-O2", "-Wall" })]
    [InlineData("-DNAME='\"hi there\"' -lm", new[] { "-DNAME=\"hi there\"", "-lm" })]
    [InlineData("\"a \\\"b\\\" \\c\" d\\ e ''", new[] { "a \"b\" \\c", "d e", "" })]
    [InlineData("x'y'\"z\"", new[] { "xyz" })]
    public void Options_and_arguments_split_as_bash_splits_words(string line, string[] expected) =>
        Assert.Equal(expected, ShellWords.Split(line));

    [Theory]
    [InlineData("-DX='open")]
    [InlineData("\"open")]
    public void An_unclosed_quote_is_no_list_of_words(string line) => Assert.Null(ShellWords.Split(line));

    [Fact]
    public void A_batch_token_names_its_session_and_case_and_a_session_id_names_its_session()
    {
        var token = Judge0Tokens.Of("0123456789abcdef0123456789abcdef", 7);
        Assert.Equal(("0123456789abcdef0123456789abcdef", (int?)7), Judge0Tokens.Parse(token));
        Assert.Equal(("0123456789abcdef0123456789abcdef", (int?)null), Judge0Tokens.Parse("0123456789abcdef0123456789abcdef"));
        Assert.Equal(("a-b", (int?)null), Judge0Tokens.Parse("a-b"));
    }

    [Theory]
    [InlineData(Verdicts.Accepted, null, 3)]
    [InlineData(Verdicts.WrongAnswer, null, 4)]
    [InlineData(Verdicts.TimeLimitExceeded, 9, 5)]
    [InlineData(Verdicts.CompilationError, null, 6)]
    [InlineData(Verdicts.RuntimeError, 11, 7)]
    [InlineData(Verdicts.RuntimeError, 8, 9)]
    [InlineData(Verdicts.RuntimeError, 6, 10)]
    [InlineData(Verdicts.RuntimeError, null, 11)]
    [InlineData(Verdicts.MemoryLimitExceeded, 9, 12)]
    [InlineData(Verdicts.OutputLimitExceeded, 9, 12)]
    [InlineData(Verdicts.Skipped, null, 13)]
    [InlineData(Verdicts.InternalError, null, 13)]
    public void A_case_s_verdict_is_judge0_s_status(string verdict, int? signal, int status)
    {
        var run = new RunResult { Status = RunStatus.Completed, TestResults = [new TestResult(0, null, Verdicts.Accepted), new TestResult(1, null, verdict, Signal: signal)] };
        var session = new SessionRecord("s", SessionStatus.Completed, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, run, "host")
        {
            Options = new Judge0Fields(50, null, false).On(RunOptions.None with
            {
                Grading = new GradingSpec([new TestCase(null, "1", "2"), new TestCase(null, "2", "4")]),
            }),
        };

        Assert.Equal(status, Judge0Format.CaseStatus(session, 1).Id);
        Assert.Equal("s-1", Judge0Format.Submission(session, null, ["token"], base64: false, caseIndex: 1)["token"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("42\n", "42", 3)]
    [InlineData("42  \n\n", "42\n", 3)]
    [InlineData("4 2\n", "42", 4)]
    [InlineData("a \nb\n", "a\nb", 3)] // each line's trailing whitespace does not count, as in Judge0
    public void A_single_run_s_output_is_compared_as_judge0_compares_it(string stdout, string expected, int status)
    {
        var run = new RunResult { Status = RunStatus.Completed, ExitCode = 0, Stdout = stdout, Logs = stdout };
        var session = new SessionRecord("s", SessionStatus.Completed, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, run, "host")
        {
            Options = new Judge0Fields(71, expected, false).On(RunOptions.None),
        };

        Assert.Equal(status, Judge0Format.Status(session).Id);
    }
}
