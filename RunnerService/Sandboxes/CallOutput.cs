using System.Buffers;
using System.Text;
using System.Text.Json;
using Executor.Runner.Runs;

namespace Executor.Runner.Sandboxes;

/// <summary>
/// What one sandbox call produced, as it arrives: stdout and stderr kept within the call's output limit (the same
/// buffers, combined log and segments as a run's, see <see cref="LauncherOutput"/>), and its outputs in order as
/// nbformat 4 has them: consecutive writes to one stream merged into one stream output, and the kernel's messages.
/// </summary>
public sealed class CallOutput(long limitBytes)
{
    private readonly List<object> _outputs = []; // a StreamText or a JsonElement
    private long _messageBytes;

    public LauncherOutput Streams { get; } = new(limitBytes);

    /// <summary>Messages over the output limit were left out (the launcher should have cut the call first).</summary>
    public bool MessagesTruncated { get; private set; }

    public void Write(bool stdout, ReadOnlySpan<byte> data)
    {
        var kept = Streams.Write(stdout, data);
        if (kept == 0)
        {
            return;
        }
        if (_outputs.Count == 0 || _outputs[^1] is not StreamText last || last.Stdout != stdout)
        {
            last = new StreamText(stdout);
            _outputs.Add(last);
        }
        last.Bytes.Write(data[..kept]);
    }

    /// <summary>An <c>m</c> frame: one nbformat output; false when it is not a JSON object (a broken sandbox).</summary>
    public bool AddMessage(byte[] payload)
    {
        JsonElement message;
        try
        {
            using var document = JsonDocument.Parse(payload);
            message = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return false;
        }
        if (message.ValueKind != JsonValueKind.Object)
        {
            return false;
        }
        _messageBytes += payload.Length;
        if (_messageBytes > limitBytes)
        {
            MessagesTruncated = true;
            return true;
        }
        _outputs.Add(message);
        return true;
    }

    /// <summary>The outputs in order.</summary>
    public IReadOnlyList<JsonElement> Outputs() =>
    [
        .. _outputs.Select(o => o is StreamText text
            ? JsonSerializer.SerializeToElement(
                new StreamOutput("stream", text.Stdout ? "stdout" : "stderr", Encoding.UTF8.GetString(text.Bytes.WrittenSpan)), KernelJsonContext.Default.StreamOutput)
            : (JsonElement)o),
    ];

    private sealed class StreamText(bool stdout)
    {
        public bool Stdout { get; } = stdout;

        public ArrayBufferWriter<byte> Bytes { get; } = new();
    }
}
