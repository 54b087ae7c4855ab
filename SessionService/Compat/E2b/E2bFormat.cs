using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Executor.Session.Compat.E2b;

/// <summary>
/// The pure mappings between E2B's shapes and Executor's: paths (E2B's /home/user is the sandbox's /sandbox), a call's
/// outputs as E2B's execution lines, and Connect RPC's envelopes (1 flag byte, a 4-byte big-endian length, JSON).
/// </summary>
public static class E2bFormat
{
    /// <summary>E2B's working directory; in Executor's images a link to /sandbox.</summary>
    public const string Home = "/home/user";

    private const string SandboxRoot = "/sandbox";

    /// <summary>
    /// The sandbox-relative path (as <c>SandboxOperations.FileAsync</c> takes it; "" is the working directory) of an E2B
    /// path: absolute under /home/user or /sandbox, or relative to /home/user. Null for anything outside.
    /// </summary>
    public static string? ToSandboxPath(string? path)
    {
        path ??= "";
        string rest;
        if (path.StartsWith('/'))
        {
            rest = Under(path, Home) ?? Under(path, SandboxRoot) ?? "\0";
            if (rest == "\0")
            {
                return null;
            }
        }
        else
        {
            rest = path;
        }
        var parts = new List<string>();
        foreach (var part in rest.Split('/'))
        {
            if (part is "" or ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (parts.Count == 0)
                {
                    return null;
                }
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            if (part.Contains('\0', StringComparison.Ordinal) || part.Contains('\\', StringComparison.Ordinal))
            {
                return null;
            }
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    /// <summary>The E2B path of a sandbox-relative path.</summary>
    public static string ToE2bPath(string sandboxPath) => sandboxPath.Length == 0 ? Home : $"{Home}/{sandboxPath}";

    /// <summary>How deep <paramref name="path"/> lies under the directory <paramref name="directory"/> (1: in it), or null when not under it.</summary>
    public static int? DepthUnder(string directory, string path)
    {
        if (directory.Length > 0 && !path.StartsWith(directory + "/", StringComparison.Ordinal))
        {
            return null;
        }
        var rest = directory.Length == 0 ? path : path[(directory.Length + 1)..];
        return rest.Length == 0 ? null : rest.Count(c => c == '/') + 1;
    }

    private static string? Under(string path, string root) =>
        path == root ? "" : path.StartsWith(root + "/", StringComparison.Ordinal) ? path[(root.Length + 1)..] : null;

    /// <summary>Jupyter's MIME types as E2B's result fields (what E2B's own server maps them to).</summary>
    private static readonly Dictionary<string, string> MimeFields = new(StringComparer.Ordinal)
    {
        ["text/plain"] = "text",
        ["text/html"] = "html",
        ["text/markdown"] = "markdown",
        ["image/svg+xml"] = "svg",
        ["image/png"] = "png",
        ["image/jpeg"] = "jpeg",
        ["application/pdf"] = "pdf",
        ["text/latex"] = "latex",
        ["application/json"] = "json",
        ["application/javascript"] = "javascript",
    };

    /// <summary>
    /// A call's outputs (nbformat 4) as E2B's execution lines, streams left out (they went live): an execute_result is the
    /// main result, display_data is not, an error is E2B's error with its traceback as one text.
    /// </summary>
    public static IEnumerable<JsonObject> ResultLines(IEnumerable<JsonElement> outputs)
    {
        foreach (var output in outputs)
        {
            var type = output.TryGetProperty("output_type", out var t) ? t.GetString() : null;
            if (type is "execute_result" or "display_data" && output.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object)
            {
                yield return Result(data, type == "execute_result");
            }
            else if (type == "error")
            {
                var traceback = output.TryGetProperty("traceback", out var tb) && tb.ValueKind == JsonValueKind.Array
                    ? string.Join('\n', tb.EnumerateArray().Select(l => l.GetString() ?? ""))
                    : "";
                yield return new JsonObject
                {
                    ["type"] = "error",
                    ["name"] = Text(output, "ename"),
                    ["value"] = Text(output, "evalue"),
                    ["traceback"] = traceback,
                };
            }
        }
    }

    /// <summary>One MIME bundle as E2B's result line; MIME types E2B has no field for go under "extra".</summary>
    public static JsonObject Result(JsonElement bundle, bool isMainResult)
    {
        var line = new JsonObject { ["type"] = "result", ["is_main_result"] = isMainResult };
        JsonObject? extra = null;
        foreach (var entry in bundle.EnumerateObject())
        {
            if (entry.Name == "text/plain" && entry.Value.GetString() is { Length: >= 2 } text && text[0] == '\'' && text[^1] == '\'')
            {
                line["text"] = text[1..^1]; // a string's repr, as E2B's own server gives it: without its quotes
            }
            else if (MimeFields.TryGetValue(entry.Name, out var field))
            {
                line[field] = JsonNode.Parse(entry.Value.GetRawText());
            }
            else
            {
                (extra ??= [])[entry.Name] = JsonNode.Parse(entry.Value.GetRawText());
            }
        }
        if (extra is not null)
        {
            line["extra"] = extra;
        }
        return line;
    }

    private static string Text(JsonElement output, string name) =>
        output.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";

    /// <summary>A Connect envelope's flag: the last one of a stream (its JSON is the end, with an error if any).</summary>
    public const byte EndStreamFlag = 0x02;

    /// <summary>A Connect envelope: the flag, the JSON's length (big-endian), the JSON.</summary>
    public static byte[] Envelope(JsonNode message, byte flags = 0)
    {
        var json = Encoding.UTF8.GetBytes(message.ToJsonString());
        var frame = new byte[5 + json.Length];
        frame[0] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)json.Length);
        json.CopyTo(frame, 5);
        return frame;
    }

    /// <summary>The first envelope's JSON of a Connect streaming request; null when the bytes are not one.</summary>
    public static JsonObject? FirstMessage(ReadOnlySpan<byte> body)
    {
        if (body.Length < 5 || (body[0] & 0x01) != 0)
        {
            return null; // too short, or compressed (we offer no compression)
        }
        var length = BinaryPrimitives.ReadUInt32BigEndian(body[1..]);
        if (length > body.Length - 5)
        {
            return null;
        }
        try
        {
            return JsonNode.Parse(body.Slice(5, (int)length)) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Connect's error codes and the HTTP statuses a unary call answers them with.</summary>
    public static int HttpStatusOf(string connectCode) => connectCode switch
    {
        "invalid_argument" => 400,
        "unauthenticated" => 401,
        "permission_denied" => 403,
        "not_found" => 404,
        "already_exists" => 409,
        "failed_precondition" => 412,
        "resource_exhausted" => 429,
        "unimplemented" => 501,
        "unavailable" => 503,
        "deadline_exceeded" => 504,
        _ => 500,
    };
}
