using Executor.Contracts;
using Executor.SessionCore.Submissions;

namespace Executor.UnitTests;

/// <summary>Compiler options given as one line are split as a shell splits it, without expanding anything.</summary>
public sealed class ShellWordsTests
{
    public static TheoryData<string, string[]> Lines => new()
    {
        { "", [] },
        { "  -O2   -lm\t-Wall\n", ["-O2", "-lm", "-Wall"] },
        { "-DNAME='a b' -DQ=\"c d\"", ["-DNAME=a b", "-DQ=c d"] },
        { "'it'\\''s'", ["it's"] },
        { "\"a \\\"quoted\\\" \\\\ \\$HOME \\n\"", ["a \"quoted\" \\ $HOME \\n"] },
        { "a\\ b c", ["a b", "c"] },
        { "'' \"\"", ["", ""] },
        { "$(reboot) `id` $HOME *.c", ["$(reboot)", "`id`", "$HOME", "*.c"] },
    };

    [Theory]
    [MemberData(nameof(Lines))]
    public void A_line_splits_into_the_words_a_shell_would_pass(string line, string[] words)
    {
        Assert.Equal(words, ShellWords.Split(line));
    }

    [Theory]
    [InlineData("-DX='open")]
    [InlineData("-DX=\"open")]
    [InlineData("-O2 \\")]
    public void An_open_quote_or_a_lone_final_backslash_is_no_line(string line)
    {
        Assert.Null(ShellWords.Split(line));
    }

    [Theory]
    [InlineData("c", "c")]
    [InlineData("CPP", "cpp")]
    [InlineData("cc", "cpp")]
    [InlineData("c++", "cpp")]
    [InlineData("js", "javascript")]
    [InlineData("sh", "bash")]
    [InlineData("py", "python")]
    [InlineData(" java ", "java")]
    [InlineData("cobol", null)]
    [InlineData("", null)]
    [InlineData("main.c", null)]
    public void A_language_is_named_by_its_id_or_its_extension(string name, string? language)
    {
        Assert.Equal(language, SourceLanguages.Named(name));
    }
}
