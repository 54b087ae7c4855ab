using Executor.Contracts;
using Executor.Session.Compat;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;

namespace Executor.UnitTests;

public class CompatTests
{
    [Theory]
    [InlineData("3.11.2", "*", true)]
    [InlineData("3.11.2", "3.11.2", true)]
    [InlineData("3.11.2", "3.11", true)]
    [InlineData("3.11.2", "3.x", true)]
    [InlineData("3.11.2", "3", true)]
    [InlineData("3.11.2", "^3.10", true)]
    [InlineData("3.11.2", "~3.11.0", true)]
    [InlineData("3.11.2", ">=3.8", true)]
    [InlineData("3.11.2", "3.12", false)]
    [InlineData("3.11.2", "2.x", false)]
    [InlineData("3.11.2", "~3.10", false)]
    [InlineData("3.11.2", "<3.11", false)]
    public void Versions_match_piston_s_semver_ranges(string version, string range, bool expected) =>
        Assert.Equal(expected, PistonApi.Satisfies(version, range));

    [Theory]
    [InlineData("multipart/form-data; boundary=abc, multipart/form-data; boundary=abc", new[] { "multipart/form-data; boundary=abc", "multipart/form-data; boundary=abc" })]
    [InlineData("multipart/form-data; boundary=\"a,b\"", new[] { "multipart/form-data; boundary=\"a,b\"" })]
    [InlineData("application/json", new[] { "application/json" })]
    public void A_repeated_content_type_splits_only_outside_quotes(string header, string[] expected) =>
        Assert.Equal(expected, Microsoft.Extensions.Hosting.RepeatedContentType.SplitOutsideQuotes(header).Select(v => v.Trim()));

    [Theory]
    [InlineData(false, "out\n", "err\n", 4)] // judged on stdout alone: wrong answer
    [InlineData(true, "out\nerr\n", null, 3)] // judged on the combined output: accepted
    public void Judge0_s_redirect_puts_stderr_into_stdout_in_write_order(bool redirect, string stdout, string? stderr, int status)
    {
        var run = new RunResult { Status = RunStatus.Completed, ExitCode = 0, Stdout = "out\n", Stderr = "err\n", Logs = "out\nerr\n" };
        var session = new SessionRecord("s", SessionStatus.Completed, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, run, "host")
        {
            Options = new Judge0Fields(71, "out\nerr", redirect).On(RunOptions.None),
        };

        var submission = Judge0Format.Submission(session, null, ["stdout", "stderr", "status_id"], base64: false);

        Assert.Equal(stdout, submission["stdout"]?.GetValue<string>());
        Assert.Equal(stderr, submission["stderr"]?.GetValue<string>());
        Assert.Equal(status, submission["status_id"]!.GetValue<int>());
    }
}
