using System.Buffers;
using System.Buffers.Binary;

namespace Executor.Contracts;

/// <summary>
/// A run's output as it happens, from its runner host to SessionService (POST /hosts/{host}/runs/{id}/output, a
/// streamed body): frames of 1 byte stream ('o' stdout, 'e' stderr), 8 bytes offset in the run's combined output,
/// 4 bytes length (big-endian), then the bytes. The output is capped as the result is: the host streams only what the
/// result keeps.
/// </summary>
public static class OutputFrames
{
    public const int HeaderSize = 13;

    public static void Write(IBufferWriter<byte> writer, bool stdout, long offset, ReadOnlySpan<byte> data)
    {
        var header = writer.GetSpan(HeaderSize);
        header[0] = stdout ? (byte)'o' : (byte)'e';
        BinaryPrimitives.WriteInt64BigEndian(header[1..], offset);
        BinaryPrimitives.WriteInt32BigEndian(header[9..], data.Length);
        writer.Advance(HeaderSize);
        writer.Write(data);
    }

    /// <summary>Reads one whole frame off the front of the buffer; false when it holds no whole frame yet.</summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, out OutputChunk chunk)
    {
        chunk = default!;
        if (buffer.Length < HeaderSize)
        {
            return false;
        }
        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        var length = BinaryPrimitives.ReadInt32BigEndian(header[9..]);
        if (header[0] is not ((byte)'o' or (byte)'e') || length < 0 || length > 16 * 1024 * 1024)
        {
            throw new InvalidDataException("Not an output frame");
        }
        if (buffer.Length < HeaderSize + length)
        {
            return false;
        }
        chunk = new OutputChunk(header[0] == 'o', BinaryPrimitives.ReadInt64BigEndian(header[1..]), buffer.Slice(HeaderSize, length).ToArray());
        buffer = buffer.Slice(HeaderSize + length);
        return true;
    }
}

/// <summary>A piece of a run's output: which stream, where it starts in the combined output, its bytes.</summary>
public sealed record OutputChunk(bool Stdout, long Offset, byte[] Data)
{
    public long End => Offset + Data.Length;
}
