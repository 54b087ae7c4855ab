using Executor.Contracts;

namespace Executor.UnitTests.Egress;

/// <summary>The destinations' grammar that SessionService checks requests with and the proxy checks connections with.</summary>
public sealed class EgressDestinationsTests
{
    [Theory]
    [InlineData("pypi.org", "pypi.org")]
    [InlineData("  PyPI.Org. ", "pypi.org")]
    [InlineData("api.example.com:8443", "api.example.com:8443")]
    [InlineData("api.example.com:*", "api.example.com:*")]
    [InlineData("*.example.com", "*.example.com")]
    [InlineData("*.Example.com:443", "*.example.com:443")]
    [InlineData("10.1.2.3", "10.1.2.3")]
    [InlineData("10.1.2.3:80", "10.1.2.3:80")]
    [InlineData("[2001:DB8:0::1]", "[2001:db8::1]")]
    [InlineData("[2001:db8::1]:443", "[2001:db8::1]:443")]
    [InlineData("[::1]:*", "[::1]:*")]
    [InlineData("under_score.example", "under_score.example")]
    public void Destinations_normalize_to_one_form(string destination, string expected) =>
        Assert.Equal(expected, EgressDestinations.Normalize(destination));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("http://pypi.org")]
    [InlineData("pypi.org/simple")]
    [InlineData("pypi.org:0")]
    [InlineData("pypi.org:65536")]
    [InlineData("pypi.org:http")]
    [InlineData("pypi.org:-1")]
    [InlineData("-bad.example")]
    [InlineData("bad-.example")]
    [InlineData("a..b")]
    [InlineData("*")]
    [InlineData("*.")]
    [InlineData("foo.*.com")]
    [InlineData("exa mple.com")]
    [InlineData("2130706433")] // 127.0.0.1 written as one number: an address must be written as one
    [InlineData("127.1")]
    [InlineData("::1")] // IPv6 only in brackets
    [InlineData("[::1")]
    [InlineData("[10.0.0.1]")]
    [InlineData("[::1]443")]
    [InlineData("ünïcode.example")]
    public void Malformed_destinations_are_refused(string? destination) => Assert.Null(EgressDestinations.Normalize(destination));

    [Fact]
    public void An_overlong_destination_is_refused() => Assert.Null(EgressDestinations.Normalize(new string('a', 250) + ".example.com"));

    [Theory]
    [InlineData("pypi.org", "pypi.org", 443, true)]
    [InlineData("pypi.org", "PYPI.ORG.", 80, true)]
    [InlineData("pypi.org", "pypi.org", 8080, false)]
    [InlineData("pypi.org", "files.pypi.org", 443, false)]
    [InlineData("pypi.org:8080", "pypi.org", 8080, true)]
    [InlineData("pypi.org:8080", "pypi.org", 443, false)]
    [InlineData("pypi.org:*", "pypi.org", 22, true)]
    [InlineData("*.pypi.org", "files.pypi.org", 443, true)]
    [InlineData("*.pypi.org", "a.b.pypi.org", 443, true)]
    [InlineData("*.pypi.org", "pypi.org", 443, false)] // a wildcard is the names under the domain, not the domain itself
    [InlineData("*.pypi.org", "evilpypi.org", 443, false)]
    [InlineData("*.pypi.org:*", "files.pypi.org", 9000, true)]
    [InlineData("127.0.0.1:*", "127.0.0.1", 5000, true)]
    [InlineData("*.0.0.1", "127.0.0.1", 443, false)] // a wildcard never matches an address
    [InlineData("[2001:db8::1]", "[2001:DB8:0:0::1]", 443, true)]
    [InlineData("[2001:db8::1]", "2001:db8::1", 443, true)]
    [InlineData("[2001:db8::1]:8443", "[2001:db8::1]", 443, false)]
    public void A_connection_is_allowed_only_by_a_destination_that_matches_host_and_port(string destination, string host, int port, bool allowed) =>
        Assert.Equal(allowed, EgressDestinations.Allows([EgressDestinations.Normalize(destination)!], host, port));

    [Fact]
    public void No_destinations_allow_nothing() => Assert.False(EgressDestinations.Allows([], "pypi.org", 443));

    [Theory]
    [InlineData("pypi.org", "pypi.org", true)]
    [InlineData("pypi.org", "pypi.org:443", true)]
    [InlineData("pypi.org", "pypi.org:8443", false)]
    [InlineData("pypi.org", "pypi.org:*", false)]
    [InlineData("pypi.org:*", "pypi.org", true)]
    [InlineData("pypi.org:*", "pypi.org:8443", true)]
    [InlineData("pypi.org:8443", "pypi.org", false)]
    [InlineData("*.pypi.org", "files.pypi.org", true)]
    [InlineData("*.pypi.org", "*.files.pypi.org", true)]
    [InlineData("*.pypi.org", "*.pypi.org", true)]
    [InlineData("*.pypi.org", "pypi.org", false)]
    [InlineData("files.pypi.org", "*.pypi.org", false)] // one name does not cover all of them
    [InlineData("*.files.pypi.org", "*.pypi.org", false)]
    [InlineData("[::1]:*", "[::1]:8080", true)]
    public void A_request_is_covered_only_when_everything_it_allows_is_allowed(string allowed, string requested, bool covered) =>
        Assert.Equal(covered, EgressDestinations.Covers([EgressDestinations.Normalize(allowed)!], EgressDestinations.Normalize(requested)!));
}
