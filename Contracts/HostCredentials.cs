using System.Security.Cryptography;
using System.Text;

namespace Executor.Contracts;

/// <summary>
/// Each runner host has a credential of its own: HMAC-SHA256 of its name under the deployment's host secret
/// (Sessions:HostSecret), in lower-case hex. SessionService derives it to check a host's calls, so adding a host needs
/// no write anywhere; a host's credential names it and only it (it cannot act as another host), and one host is shut out
/// by listing its name in Sessions:RevokedHosts. An operator derives one with
/// <c>printf %s NAME | openssl dgst -sha256 -hmac "$SECRET"</c>.
/// </summary>
public static class HostCredentials
{
    public static string For(string secret, string host) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(host)));

    /// <summary>Whether <paramref name="given"/> is the host's credential (in constant time).</summary>
    public static bool IsValid(string secret, string host, string given) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(For(secret, host)), Encoding.UTF8.GetBytes(given));
}
