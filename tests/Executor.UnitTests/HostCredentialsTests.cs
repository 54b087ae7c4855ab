using Executor.Contracts;

namespace Executor.UnitTests;

public sealed class HostCredentialsTests
{
    private const string Secret = "e2e-host-secret-0123456789abcdef";

    [Fact]
    public void A_host_credential_is_what_the_READMEs_openssl_line_prints()
    {
        // printf %s host-1 | openssl dgst -sha256 -hmac "e2e-host-secret-0123456789abcdef" -r | cut -d' ' -f1
        Assert.Equal("448789950aa490eee239aba4a44ac2f2f23d804ee63f6e3c2f140e58a3998dc6", HostCredentials.For(Secret, "host-1"));
    }

    [Fact]
    public void A_host_credential_is_valid_for_its_own_host_only()
    {
        var credential = HostCredentials.For(Secret, "host-1");
        Assert.True(HostCredentials.IsValid(Secret, "host-1", credential));
        Assert.False(HostCredentials.IsValid(Secret, "host-2", credential));
        Assert.False(HostCredentials.IsValid("another-secret-0123456789", "host-1", credential));
        Assert.False(HostCredentials.IsValid(Secret, "host-1", ""));
    }
}
