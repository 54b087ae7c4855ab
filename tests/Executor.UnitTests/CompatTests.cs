using Executor.Session.Compat;

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
}
