using System.Buffers;
using System.Buffers.Binary;
using Executor.Contracts;

namespace Executor.Runner.Sandboxes;

/// <summary>One frame of a kernel-mode launcher (Contracts/frames.md, section 7): its kind and whole payload.</summary>
public readonly record struct KernelFrame(byte Kind, byte[] Payload);

/// <summary>
/// Cuts a kernel-mode launcher's stdout into frames (1 byte kind, 4 bytes big-endian length, payload), each held to a
/// limit of its kind before a byte of it is buffered: a kind it does not know, a non-empty <c>r</c>/<c>a</c>/<c>k</c>,
/// or a frame over its limit marks the stream <see cref="Corrupt"/>, and nothing after it is read. The sandbox is then
/// broken: its code may have taken the launcher's place.
/// </summary>
/// <param name="maxMessageBytes">The largest <c>m</c> frame: a call's output limit (the launcher cuts a call there).</param>
/// <param name="maxFileBytes">The largest file a <c>g</c> frame may carry after its JSON line.</param>
public sealed class KernelFrameReader(long maxMessageBytes, long maxFileBytes)
{
    /// <summary>The launcher writes a call's stdout and stderr as it reads them, 64 KiB at a time; 16 times that is broken.</summary>
    public const int MaxStreamFrameBytes = 1 << 20;

    public const int MaxCallRecordBytes = 64 * 1024;

    /// <summary>A file answer's JSON line: a listing of many entries fits.</summary>
    public const int MaxFileAnswerLineBytes = 4 << 20;

    private readonly byte[] _header = new byte[LauncherFrames.HeaderSize];
    private int _headerFilled;
    private byte _kind;
    private byte[]? _payload;
    private int _filled;

    public bool Corrupt { get; private set; }

    /// <summary>What was wrong with the stream, once <see cref="Corrupt"/>.</summary>
    public string? Problem { get; private set; }

    /// <summary>Adds the whole frames found in <paramref name="data"/> to <paramref name="frames"/>, in order.</summary>
    public void Feed(ReadOnlySpan<byte> data, List<KernelFrame> frames)
    {
        while (!data.IsEmpty && !Corrupt)
        {
            if (_payload is null)
            {
                var take = Math.Min(_header.Length - _headerFilled, data.Length);
                data[..take].CopyTo(_header.AsSpan(_headerFilled));
                _headerFilled += take;
                data = data[take..];
                if (_headerFilled == _header.Length)
                {
                    Begin(frames);
                }
                continue;
            }
            var chunk = Math.Min(_payload.Length - _filled, data.Length);
            data[..chunk].CopyTo(_payload.AsSpan(_filled));
            _filled += chunk;
            data = data[chunk..];
            if (_filled == _payload.Length)
            {
                End(frames);
            }
        }
    }

    /// <summary>The largest payload a frame of the kind may have; -1 for a kind that is not the kernel's.</summary>
    public long Limit(byte kind) => kind switch
    {
        LauncherFrames.Ready or LauncherFrames.Accepted or LauncherFrames.KernelReady => 0,
        LauncherFrames.Stdout or LauncherFrames.Stderr => MaxStreamFrameBytes,
        LauncherFrames.Message => maxMessageBytes,
        LauncherFrames.CallRecord => MaxCallRecordBytes,
        LauncherFrames.FileAnswer => MaxFileAnswerLineBytes + 1 + maxFileBytes,
        _ => -1,
    };

    private void Begin(List<KernelFrame> frames)
    {
        _headerFilled = 0;
        _kind = _header[0];
        var length = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(1));
        var limit = Limit(_kind);
        if (limit < 0)
        {
            Fail($"sent a frame of unknown kind 0x{_kind:x2}");
            return;
        }
        if (length > limit || length > Array.MaxLength)
        {
            Fail($"sent a '{(char)_kind}' frame of {length} bytes (at most {limit})");
            return;
        }
        _payload = length == 0 ? [] : new byte[length];
        _filled = 0;
        if (length == 0)
        {
            End(frames);
        }
    }

    private void End(List<KernelFrame> frames)
    {
        frames.Add(new KernelFrame(_kind, _payload!));
        _payload = null;
    }

    private void Fail(string problem)
    {
        Corrupt = true;
        Problem = problem;
    }

    /// <summary>A file answer's JSON line and what follows it (a got file's content); null when there is no line end.</summary>
    public static (ReadOnlyMemory<byte> Line, ReadOnlyMemory<byte> Content)? SplitLine(byte[] payload)
    {
        var end = payload.AsSpan().IndexOf((byte)'\n');
        return end < 0 ? null : (payload.AsMemory(0, end), payload.AsMemory(end + 1));
    }

    /// <summary>A request line (a kernel job's header, a file operation) as the launcher reads it: JSON, then a line end.</summary>
    public static byte[] Line<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, ReadOnlySpan<byte> after = default)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            System.Text.Json.JsonSerializer.Serialize(writer, value, type);
        }
        buffer.Write("\n"u8);
        buffer.Write(after);
        return buffer.WrittenSpan.ToArray();
    }
}
