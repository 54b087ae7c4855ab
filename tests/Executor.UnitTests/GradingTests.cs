using Executor.Contracts;

namespace Executor.UnitTests;

/// <summary>
/// How a test case's output is judged (<see cref="OutputComparison"/>, shared by the runner hosts and Judge0's
/// expected_output): the three comparisons, and the short diff a wrong answer carries.
/// </summary>
public sealed class GradingTests
{
    [Theory]
    [InlineData("3\n", "3\n")]
    [InlineData("", "")]
    [InlineData("a b\n\nc", "a b\n\nc")]
    public void Exact_passes_the_same_text_only(string expected, string actual)
    {
        Assert.Equal((true, null), OutputComparison.Compare(expected, actual, Comparisons.Exact));
    }

    [Theory]
    [InlineData("3\n", "3", "line 2: expected \"\", got the end of output")]
    [InlineData("3", "3 ", "line 1, column 2: expected \"3\", got \"3 \"")]
    [InlineData("a\r\n", "a\n", "line 1, column 2: expected \"a\\r\", got \"a\"")]
    [InlineData("a\nb\n", "a\nc\n", "line 2, column 1: expected \"b\", got \"c\"")]
    public void Exact_counts_every_character_and_says_where_the_first_difference_is(string expected, string actual, string diff)
    {
        Assert.Equal((false, diff), OutputComparison.Compare(expected, actual, Comparisons.Exact));
    }

    [Theory]
    [InlineData("3\n", "3")] // the final newline
    [InlineData("3", "3\n\n\n")] // trailing blank lines
    [InlineData("1 2\n3\n", "1 2   \n3\t\n")] // trailing spaces and tabs of each line
    [InlineData("1 2\n3\n", "1 2\r\n3\r\n")] // CRLF
    [InlineData("1 2\r\n\r\n", "1 2")] // CRLF and a trailing blank line in the expected output
    [InlineData("", "\n \n\t\n")] // nothing but blank lines
    public void Trailing_whitespace_ignores_trailing_blanks_final_newlines_and_crlf(string expected, string actual)
    {
        Assert.Equal((true, null), OutputComparison.Compare(expected, actual, Comparisons.TrailingWhitespace));
        // It is the default.
        Assert.Equal((true, null), OutputComparison.Compare(expected, actual));
    }

    [Theory]
    [InlineData("3", " 3", "line 1, column 1: expected \"3\", got \" 3\"")] // leading blanks count
    [InlineData("1\n", "1\n2\n", "line 2: expected the end of output, got \"2\"")]
    [InlineData("1\n2\n", "1\n", "line 2: expected \"2\", got the end of output")]
    [InlineData("1\n\n2", "1\n2", "line 2, column 1: expected \"\", got \"2\"")] // a blank line inside counts
    [InlineData("a\tb", "a b", "line 1, column 2: expected \"a\\tb\", got \"a b\"")]
    public void Trailing_whitespace_still_counts_everything_else(string expected, string actual, string diff)
    {
        Assert.Equal((false, diff), OutputComparison.Compare(expected, actual, Comparisons.TrailingWhitespace));
    }

    [Fact]
    public void A_long_line_s_diff_shows_the_difference_with_some_context_not_the_whole_line()
    {
        var prefix = new string('x', 100);
        var (same, diff) = OutputComparison.Compare(prefix + "y" + new string('w', 300), prefix + "z");

        Assert.False(same);
        Assert.Equal($"line 1, column 101: expected \"…{new string('x', 20)}y{new string('w', 59)}…\", got \"…{new string('x', 20)}z\"", diff);
    }

    [Theory]
    [InlineData("1 2 3\n", "1\n2\n3", null)] // any whitespace between tokens
    [InlineData("0.333333", "0.3333333333", null)]
    [InlineData("1 2.0000001\n", "  1   2  ", null)] // absolutely within the default 1e-6
    [InlineData("1000000", "1000000.5", null)] // relatively within 1e-6
    [InlineData("0", "0.0000005", null)] // absolutely, where relatively nothing is close to 0
    [InlineData("1e3", "1000", null)] // numbers, not texts
    [InlineData("yes 3", "yes 3", null)]
    [InlineData("1.5", "1.6", 0.1)]
    public void Tokens_match_when_equal_or_numbers_within_the_tolerance(string expected, string actual, double? tolerance)
    {
        Assert.Equal((true, null), OutputComparison.Compare(expected, actual, Comparisons.Tokens, tolerance));
    }

    [Theory]
    [InlineData("1.5", "1.6", 0.01, "token 1: expected \"1.5\", got \"1.6\"")]
    [InlineData("0", "0.00001", null, "token 1: expected \"0\", got \"0.00001\"")]
    [InlineData("1 yes", "1 Yes", null, "token 2: expected \"yes\", got \"Yes\"")] // words compare exactly
    [InlineData("1", "one", 1.0, "token 1: expected \"1\", got \"one\"")] // a number and a word never match
    [InlineData("NaN", "nan", 1.0, "token 1: expected \"NaN\", got \"nan\"")] // not finite: only the same text
    [InlineData("1 2", "1", null, "token 2: expected \"2\", got the end of output")]
    [InlineData("1", "1 2", null, "token 2: expected the end of output, got \"2\"")]
    [InlineData("1", "", null, "token 1: expected \"1\", got the end of output")]
    public void Tokens_fail_at_the_first_token_that_differs(string expected, string actual, double? tolerance, string diff)
    {
        Assert.Equal((false, diff), OutputComparison.Compare(expected, actual, Comparisons.Tokens, tolerance));
    }

    [Fact]
    public void Trim_trailing_is_what_judge0_compares()
    {
        Assert.Equal("a\nb", OutputComparison.TrimTrailing("a \r\nb\t\n\n \n"));
        Assert.Equal(" a\n\nb", OutputComparison.TrimTrailing(" a\n\nb\n"));
        Assert.Equal("", OutputComparison.TrimTrailing("\n\n"));
    }

    [Fact]
    public void The_summary_counts_the_accepted_and_names_the_first_real_failure()
    {
        TestResult[] results =
        [
            new(0, "a", Verdicts.Accepted, TimeMs: 2),
            new(1, "b", Verdicts.TimeLimitExceeded, TimeMs: 1000),
            new(2, "c", Verdicts.Skipped),
        ];
        Assert.Equal(new TestSummary(1, 3, Verdicts.TimeLimitExceeded, 1, "b", 1002), TestSummary.Of(results));
        Assert.Equal(new TestSummary(1, 1, Verdicts.Accepted, null, null, 2), TestSummary.Of(results[..1]));
    }
}
