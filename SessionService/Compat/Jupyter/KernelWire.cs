using System.Buffers.Binary;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Executor.Session.Compat.Jupyter;

/// <summary>A message of Jupyter's kernel protocol (5.3) as it crosses the kernel's channels WebSocket.</summary>
public sealed record KernelMessage(string Channel, JsonObject Header, JsonObject ParentHeader, JsonObject Metadata, JsonObject Content)
{
    public IReadOnlyList<byte[]> Buffers { get; init; } = [];

    public string Type => Text(Header, "msg_type");

    public static string Text(JsonObject node, string name) => JsonBody.Text(node[name]) ?? "";
}

/// <summary>
/// The two ways Jupyter Server frames kernel messages on the WebSocket: the <see cref="V1Protocol"/> subprotocol's binary
/// offset table (what @jupyterlab/services asks for), and the legacy JSON text frame (what a client that offers no
/// subprotocol, such as Jupyter Server's gateway client, sends), whose binary form carries buffers.
/// </summary>
public static class KernelWire
{
    public const string V1Protocol = "v1.kernel.websocket.jupyter.org";

    /// <summary>
    /// JSON as a WebSocket frame needs it, not as HTML would: the default encoder's escapes ('+' in every base64 PNG,
    /// every non-ASCII character) only make frames longer.
    /// </summary>
    private static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>More offsets than this is not a message a client sends (five parts and a few buffers).</summary>
    private const int MaxOffsets = 1024;

    /// <summary>
    /// v1: a little-endian uint64 count n, then n uint64 offsets: the channel starts at the first, then the header,
    /// parent header, metadata and content, then each buffer; the last offset ends the last part.
    /// </summary>
    public static byte[] EncodeV1(KernelMessage message)
    {
        byte[][] parts =
        [
            Encoding.UTF8.GetBytes(message.Channel),
            JsonSerializer.SerializeToUtf8Bytes(message.Header, Json),
            JsonSerializer.SerializeToUtf8Bytes(message.ParentHeader, Json),
            JsonSerializer.SerializeToUtf8Bytes(message.Metadata, Json),
            JsonSerializer.SerializeToUtf8Bytes(message.Content, Json),
            .. message.Buffers,
        ];
        var count = parts.Length + 1;
        var frame = new byte[8 * (1 + count) + parts.Sum(p => p.Length)];
        BinaryPrimitives.WriteUInt64LittleEndian(frame, (ulong)count);
        var at = 8 * (1 + count);
        for (var i = 0; i < parts.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(8 * (1 + i)), (ulong)at);
            parts[i].CopyTo(frame, at);
            at += parts[i].Length;
        }
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(8 * count), (ulong)at);
        return frame;
    }

    /// <summary>The message a v1 frame holds, or null when the frame is not one.</summary>
    public static KernelMessage? DecodeV1(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 8)
        {
            return null;
        }
        var count = BinaryPrimitives.ReadUInt64LittleEndian(frame);
        if (count < 6 || count > MaxOffsets || (ulong)frame.Length < 8 * (1 + count))
        {
            return null;
        }
        var offsets = new int[count];
        for (var i = 0; i < (int)count; i++)
        {
            var offset = BinaryPrimitives.ReadUInt64LittleEndian(frame[(8 * (1 + i))..]);
            if (offset > (ulong)frame.Length || (i > 0 && (int)offset < offsets[i - 1]))
            {
                return null;
            }
            offsets[i] = (int)offset;
        }
        if (offsets[0] != 8 * (1 + (int)count))
        {
            return null;
        }
        var buffers = new List<byte[]>();
        for (var i = 5; i < offsets.Length - 1; i++)
        {
            buffers.Add(Part(frame, offsets, i).ToArray());
        }
        return Object(Part(frame, offsets, 1)) is { } header
            ? new KernelMessage(Encoding.UTF8.GetString(Part(frame, offsets, 0)), header, Object(Part(frame, offsets, 2)) ?? [],
                Object(Part(frame, offsets, 3)) ?? [], Object(Part(frame, offsets, 4)) ?? [])
            {
                Buffers = buffers,
            }
            : null;
    }

    /// <summary>A legacy text frame: the message as one JSON object, with msg_id and msg_type repeated at its top as Jupyter Server has them.</summary>
    public static string EncodeLegacy(KernelMessage message) => new JsonObject
    {
        ["header"] = message.Header.DeepClone(),
        ["msg_id"] = KernelMessage.Text(message.Header, "msg_id"),
        ["msg_type"] = message.Type,
        ["parent_header"] = message.ParentHeader.DeepClone(),
        ["metadata"] = message.Metadata.DeepClone(),
        ["content"] = message.Content.DeepClone(),
        ["buffers"] = new JsonArray(),
        ["channel"] = message.Channel,
    }.ToJsonString(Json);

    /// <summary>
    /// The message a legacy frame holds, or null: a text frame is the JSON object; a binary one (a client's message with
    /// buffers) is a big-endian uint32 count n, n uint32 offsets, the JSON at the first and each buffer at the next.
    /// </summary>
    public static KernelMessage? DecodeLegacy(ReadOnlySpan<byte> frame, bool text)
    {
        var buffers = new List<byte[]>();
        var json = frame;
        if (!text)
        {
            if (frame.Length < 8)
            {
                return null;
            }
            var count = BinaryPrimitives.ReadUInt32BigEndian(frame);
            if (count < 1 || count > MaxOffsets || (uint)frame.Length < 4 * (1 + count))
            {
                return null;
            }
            var offsets = new int[count + 1];
            for (var i = 0; i < count; i++)
            {
                var offset = BinaryPrimitives.ReadUInt32BigEndian(frame[(4 * (1 + i))..]);
                if (offset > (uint)frame.Length || (i > 0 && offset < offsets[i - 1]))
                {
                    return null;
                }
                offsets[i] = (int)offset;
            }
            offsets[count] = frame.Length;
            json = frame[offsets[0]..offsets[1]];
            for (var i = 1; i < count; i++)
            {
                buffers.Add(frame[offsets[i]..offsets[i + 1]].ToArray());
            }
        }
        if (Object(json) is not { } message || message["header"] is not JsonObject header)
        {
            return null;
        }
        return new KernelMessage(
            message["channel"] is JsonValue channel && channel.TryGetValue<string>(out var name) ? name : "shell",
            (JsonObject)header.DeepClone(),
            message["parent_header"] is JsonObject parent ? (JsonObject)parent.DeepClone() : [],
            message["metadata"] is JsonObject metadata ? (JsonObject)metadata.DeepClone() : [],
            message["content"] is JsonObject content ? (JsonObject)content.DeepClone() : [])
        {
            Buffers = buffers,
        };
    }

    private static ReadOnlySpan<byte> Part(ReadOnlySpan<byte> frame, int[] offsets, int index) => frame[offsets[index]..offsets[index + 1]];

    private static JsonObject? Object(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonNode.Parse(json) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
