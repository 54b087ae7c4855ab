using System.Text.RegularExpressions;
using Executor.SessionCore.Access;
using Microsoft.AspNetCore.Http;

namespace Executor.UnitTests;

/// <summary>Where a request may carry its key, and the forms it may take (Executor's own, E2B's, Jupyter's token).</summary>
public class PresentedKeyTests
{
    private const string Key = "exk_0123456789ab_c2VjcmV0LXNlY3JldC1zZWNyZXQ";

    [Fact]
    public void The_e2b_form_is_what_e2b_sdks_accept_and_reads_back_as_the_key()
    {
        var e2b = ApiKeys.ToE2bForm(Key);

        Assert.Matches(new Regex("^e2b_[0-9a-f]+$"), e2b);
        Assert.Equal(Key, ApiKeys.FromE2bForm(e2b));
    }

    [Theory]
    [InlineData("e2b_abc")] // odd length
    [InlineData("e2b_zz")] // not hex
    [InlineData("some-key")]
    public void Anything_else_stays_as_presented(string presented) => Assert.Equal(presented, ApiKeys.FromE2bForm(presented));

    [Theory]
    [InlineData("Authorization", "Bearer {0}")]
    [InlineData("Authorization", "token {0}")]
    [InlineData("X-API-Key", "{0}")]
    [InlineData("X-Auth-Token", "{0}")]
    public void Each_header_carries_the_key_in_either_form(string header, string format)
    {
        foreach (var form in new[] { Key, ApiKeys.ToE2bForm(Key) })
        {
            var request = new DefaultHttpContext().Request;
            request.Headers[header] = string.Format(System.Globalization.CultureInfo.InvariantCulture, format, form);
            Assert.Equal(Key, ApiKeyAuthenticationHandler.ReadKey(request));
        }
    }

    [Theory]
    [InlineData("/api/kernels/sbx_1/channels", true)]
    [InlineData("/api/sessions", true)]
    [InlineData("/sandboxes", false)]
    [InlineData("/result/abc", false)]
    public void A_token_in_the_query_counts_only_on_jupyters_api(string path, bool counts)
    {
        var request = new DefaultHttpContext().Request;
        request.Path = path;
        request.QueryString = new QueryString("?token=" + Key);

        Assert.Equal(counts ? Key : null, ApiKeyAuthenticationHandler.ReadKey(request));
    }
}
