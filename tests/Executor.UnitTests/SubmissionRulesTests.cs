using System.Text;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Submissions;

namespace Executor.UnitTests;

/// <summary>The core's rules for a submission, the same whichever surface built it.</summary>
public sealed class SubmissionRulesTests
{
    private static readonly SessionServiceOptions Limits = new() { MaxTimeoutSeconds = 60, MaxMemoryMb = 512, MaxStdinBytes = 8, MaxArgs = 2, MaxArgLength = 5 };

    public static TheoryData<RunOptions, string, int> Refused() => new()
    {
        { RunOptions.None with { TimeoutSeconds = 61 }, "bad-limit", 400 },
        { RunOptions.None with { TimeoutSeconds = 0 }, "bad-limit", 400 },
        { RunOptions.None with { MemoryMb = 15 }, "bad-limit", 400 },
        { RunOptions.None with { MemoryMb = 513 }, "bad-limit", 400 },
        { RunOptions.None with { Stdin = "123456789" }, "upload-too-large", 413 },
        { RunOptions.None with { Args = ["a", "b", "c"] }, "bad-args", 400 },
        { RunOptions.None with { Args = ["toolong"] }, "bad-args", 400 },
        { RunOptions.None with { Args = ["a\0"] }, "bad-args", 400 },
        { RunOptions.None with { Runtime = "Python 3" }, "unknown-runtime", 400 },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Options_out_of_bounds_are_refused_with_a_stable_problem_type(RunOptions options, string type, int status)
    {
        var refused = Assert.Throws<UploadRejectedException>(() => SubmissionRules.Check(options, Limits));

        Assert.Equal("urn:executor:problem:" + type, refused.Problem.Type);
        Assert.Equal(status, refused.Problem.Status);
    }

    [Fact]
    public void Options_at_the_bounds_pass()
    {
        SubmissionRules.Check(new RunOptions(["ab", "12345"], "12345678", 60, 512, Runtime: "python-3.11-data"), Limits);
        SubmissionRules.Check(RunOptions.None with { TimeoutSeconds = 1, MemoryMb = 16 }, Limits);
    }

    [Fact]
    public void The_limit_problem_names_the_field_and_the_server_s_maximum()
    {
        var refused = Assert.Throws<UploadRejectedException>(() => SubmissionRules.Check(RunOptions.None with { TimeoutSeconds = 90 }, Limits));

        Assert.Equal("'timeout_seconds' must be a whole number of seconds from 1 to 60 (the server's maximum); got '90'.", refused.Problem.Detail);
    }

    [Fact]
    public async Task A_submission_runs_main_py_or_the_named_entry_point_and_never_an_empty_one()
    {
        var directory = new WorkingDirectory(Limits);
        await directory.AddAsync("main.py", Encoding.UTF8.GetBytes("print(1)"), onlyFile: false, CancellationToken.None);
        await directory.AddAsync("empty.py", [], onlyFile: false, CancellationToken.None);

        Assert.Equal("main.py", SubmissionRules.Complete(directory, null, RunOptions.None, Limits).Entrypoint);
        var empty = Assert.Throws<UploadRejectedException>(() => SubmissionRules.Complete(directory, "empty.py", RunOptions.None, Limits));
        Assert.Equal("urn:executor:problem:empty-file", empty.Problem.Type);
        var missing = Assert.Throws<UploadRejectedException>(() => SubmissionRules.Complete(directory, "other.py", RunOptions.None, Limits));
        Assert.Equal("urn:executor:problem:bad-entrypoint", missing.Problem.Type);
    }
}
