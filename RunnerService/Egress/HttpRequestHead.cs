using System.Text;

namespace Executor.Runner.Egress;

/// <summary>
/// An HTTP/1.x request line and its header fields, as the sandbox sent them to the proxy (or, intercepted, to the
/// destination). Only what the proxy needs: it never reads a body, it forwards the bytes after the head as they come.
/// </summary>
internal sealed class HttpRequestHead
{
    /// <summary>A head longer than this is refused: no client the proxy serves sends more.</summary>
    public const int MaxLength = 32 * 1024;

    private static readonly byte[] End = "\r\n\r\n"u8.ToArray();

    private HttpRequestHead(string method, string target, string version, List<KeyValuePair<string, string>> fields)
    {
        Method = method;
        Target = target;
        Version = version;
        Fields = fields;
    }

    public string Method { get; }

    public string Target { get; }

    public string Version { get; }

    public List<KeyValuePair<string, string>> Fields { get; }

    /// <summary>
    /// Reads a head from <paramref name="stream"/>. Returns null when the stream ended first, or the head is not HTTP/1.x
    /// or too long; the remainder is what arrived after the head (the start of a body or of a tunnel's bytes). A stream that
    /// ends before its first byte throws <see cref="EndOfStreamException"/>: that was no request at all.
    /// </summary>
    public static async Task<(HttpRequestHead? Head, ReadOnlyMemory<byte> Remainder)> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxLength];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken);
            if (read == 0)
            {
                return length == 0 ? throw new EndOfStreamException() : (null, default);
            }
            // The end may straddle two reads: search from three bytes before what just arrived.
            var from = Math.Max(0, length - 3);
            length += read;
            var end = buffer.AsSpan(from, length - from).IndexOf(End);
            if (end >= 0)
            {
                var headLength = from + end + End.Length;
                return (Parse(Encoding.Latin1.GetString(buffer, 0, headLength - 2)), buffer.AsMemory(headLength, length - headLength));
            }
        }
        return (null, default);
    }

    private static HttpRequestHead? Parse(string text)
    {
        var lines = text.Split("\r\n");
        var request = lines[0].Split(' ');
        if (request.Length != 3 || request[0].Length == 0 || !request[0].All(IsTokenChar) || request[1].Length == 0
            || request[2] is not ("HTTP/1.1" or "HTTP/1.0"))
        {
            return null;
        }
        var fields = new List<KeyValuePair<string, string>>();
        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            var colon = line.IndexOf(':');
            // Folded lines and names with spaces are refused, as RFC 9112 tells a proxy: the two ends could read them differently.
            if (colon <= 0 || !line.AsSpan(0, colon).ToString().All(IsTokenChar) || line.Contains('\n') || line.Contains('\r'))
            {
                return null;
            }
            fields.Add(new(line[..colon], line[(colon + 1)..].Trim(' ', '\t')));
        }
        return new HttpRequestHead(request[0], request[1], request[2], fields);
    }

    /// <summary>The value of the first field named <paramref name="name"/>, or null.</summary>
    public string? this[string name] => Fields.FirstOrDefault(f => string.Equals(f.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>Removes every field named <paramref name="name"/>.</summary>
    public void Remove(string name) => Fields.RemoveAll(f => string.Equals(f.Key, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The head in its wire form, with <paramref name="target"/> as the request target.</summary>
    public byte[] Serialize(string target)
    {
        var text = new StringBuilder().Append(Method).Append(' ').Append(target).Append(' ').Append(Version).Append("\r\n");
        foreach (var (name, value) in Fields)
        {
            text.Append(name).Append(": ").Append(value).Append("\r\n");
        }
        return Encoding.Latin1.GetBytes(text.Append("\r\n").ToString());
    }

    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c);
}
