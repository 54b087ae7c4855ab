using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Executor.Session.Callbacks;

/// <summary>
/// X-Executor-Signature: "t=&lt;unix seconds&gt;,v1=&lt;hex HMAC-SHA256 of "&lt;t&gt;." followed by the body&gt;", keyed with
/// Callbacks:SigningSecret. A receiver recomputes it over the raw body, compares in constant time, and refuses a
/// timestamp far from its clock (a replayed delivery).
/// </summary>
public static class CallbackSigner
{
    public const string Header = "X-Executor-Signature";

    public static string Sign(string secret, DateTimeOffset timestamp, ReadOnlySpan<byte> body)
    {
        var t = timestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var signed = new byte[t.Length + 1 + body.Length];
        Encoding.ASCII.GetBytes(t + ".", signed);
        body.CopyTo(signed.AsSpan(t.Length + 1));
        return $"t={t},v1={Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed))}";
    }

    /// <summary>Checks a signature header against a body (what a receiver does; the tests use it).</summary>
    public static bool Verify(string secret, string header, ReadOnlySpan<byte> body, DateTimeOffset now, TimeSpan tolerance)
    {
        var parts = header.Split(',').Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0].Trim(), p => p[1].Trim());
        if (!parts.TryGetValue("t", out var t) || !parts.TryGetValue("v1", out var v1)
            || !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return false;
        }
        var timestamp = DateTimeOffset.FromUnixTimeSeconds(seconds);
        var expected = Sign(secret, timestamp, body);
        return (now - timestamp).Duration() <= tolerance
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes($"t={t},v1={v1}"));
    }
}
