using Executor.Contracts;
using Executor.Runner.Runs;

namespace Executor.UnitTests;

public class RunRequestValidatorTests
{
    [Theory]
    [InlineData("main.py", true)]
    [InlineData("pkg/mod.py", true)]
    [InlineData("/etc/passwd", false)]
    [InlineData("../escape.py", false)]
    [InlineData("pkg/../../escape.py", false)]
    [InlineData("./main.py", false)]
    [InlineData("a//b.py", false)]
    [InlineData("dir\\file.py", false)]
    [InlineData("new\nline.py", false)]
    [InlineData("", false)]
    public void Only_plain_relative_paths_are_safe(string path, bool safe) =>
        Assert.Equal(safe, RunRequestValidator.IsSafeRelativePath(path));

    [Fact]
    public void The_entry_point_must_be_one_of_the_files()
    {
        var errors = RunRequestValidator.Validate(new RunJob("s1", [new RunFile("a.py", [1])], "b.py", [], null, null, null));

        Assert.Contains("entrypoint", errors.Keys);
    }
}
