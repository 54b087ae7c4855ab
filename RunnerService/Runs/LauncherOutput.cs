using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Executor.Contracts;

namespace Executor.Runner.Runs;

/// <summary>
/// Decodes the launcher's frames (<see cref="LauncherFrames"/>: 1 byte kind, 4 bytes big-endian length, payload) from
/// its stdout into capped stdout, stderr and combined buffers, and the files the run hands back. Never holds more than
/// the output limit per buffer, nor more files than their limits, whatever the sandbox sends: it checks names, counts
/// and sizes again.
/// </summary>
public sealed class LauncherOutput(long limitBytes, int maxFiles = 0, long maxFileBytes = 0, long caseLimitBytes = 0)
{
    private const int HeaderSize = LauncherFrames.HeaderSize;
    private const int MaxExitRecordBytes = 64 * 1024;
    private const int MaxDroppedRecordBytes = 4096;
    private const int MaxDropped = 101; // the launcher's 100, and the end of its scan
    private const int MaxPathBytes = 1024;

    private readonly List<RunOutputFile> _files = [];
    private readonly List<DroppedFile> _dropped = [];
    private long _fileBytes;

    private readonly ArrayBufferWriter<byte> _stdout = new();
    private readonly ArrayBufferWriter<byte> _stderr = new();
    private readonly ArrayBufferWriter<byte> _combined = new();
    private readonly byte[] _header = new byte[HeaderSize];
    private int _headerFilled;
    private byte _kind;
    private int _remaining;
    private ArrayBufferWriter<byte>? _exitRecord;

    public LauncherExit? Exit { get; private set; }

    /// <summary>How the compile stage ended, once the launcher has said (compiled languages only).</summary>
    public LauncherBuild? Build { get; private set; }

    /// <summary>The test cases that have ended so far, in order, with what each wrote (a graded job only).</summary>
    public IReadOnlyList<CaseOutput> Cases => _cases;

    private readonly List<CaseOutput> _cases = [];

    /// <summary>The launcher said it has read the job: from then on the script may have run, and is never run again elsewhere.</summary>
    public bool JobAccepted { get; private set; }

    /// <summary>The stream broke the framing protocol: the sandbox's output cannot be trusted further.</summary>
    public bool Corrupt { get; private set; }

    /// <summary>The sandbox sent more output than the limit: the launcher should have stopped it first.</summary>
    public bool OverLimit { get; private set; }

    public bool StdoutTruncated { get; private set; }

    public bool StderrTruncated { get; private set; }

    public long TotalBytes => _stdout.WrittenCount + _stderr.WrittenCount;

    /// <summary>The files the launcher handed back, with their contents, within the limits.</summary>
    public IReadOnlyList<RunOutputFile> Files => _files;

    /// <summary>The files left out, by the launcher or here.</summary>
    public IReadOnlyList<DroppedFile> DroppedFiles => _dropped;

    /// <summary>
    /// Segments kept at the grain of the script's writes; past this many, stdout and stderr interleave at a coarser
    /// grain (see <see cref="AddToLog"/>), so that a script alternating one-byte writes to both makes a few thousand
    /// segments, not a million (each one an event of a replay and an entry of the stored result).
    /// </summary>
    public const int MaxFineSegments = 2048;

    private readonly List<int> _segments = [];
    private int _segmentsTaken;
    private int _segmentTaken;
    private long _takenSegmentOffset; // where segment _segmentsTaken starts in the combined log
    private readonly ArrayBufferWriter<byte> _heldStdout = new();
    private readonly ArrayBufferWriter<byte> _heldStderr = new();
    private readonly long _grain = Math.Max(256, limitBytes / MaxFineSegments);

    /// <summary>
    /// The combined log's writes in order: stdout lengths positive, stderr negative. At most about
    /// 2 × <see cref="MaxFineSegments"/> of them, whatever the script does.
    /// </summary>
    public IReadOnlyList<int> Segments
    {
        get
        {
            ReleaseHeld();
            return _segments;
        }
    }

    /// <summary>
    /// Hands over the output accepted since the last call, in write order, as (stdout?, offset in the combined log,
    /// bytes): what a live stream sends on. The bytes are valid until the next <see cref="Feed"/>.
    /// </summary>
    public void TakeNew(Action<bool, long, ReadOnlySpan<byte>> take)
    {
        if (_segments.Count == 0)
        {
            return;
        }
        var offset = _takenSegmentOffset;
        for (var i = _segmentsTaken; i < _segments.Count; i++)
        {
            var length = Math.Abs(_segments[i]);
            var start = i == _segmentsTaken ? _segmentTaken : 0;
            if (length > start)
            {
                take(_segments[i] > 0, offset + start, _combined.WrittenSpan.Slice((int)(offset + start), length - start));
            }
            offset += length;
        }
        _segmentsTaken = _segments.Count - 1;
        _segmentTaken = Math.Abs(_segments[^1]);
        _takenSegmentOffset = offset - _segmentTaken;
    }

    public void Feed(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty && !Corrupt && Exit is null)
        {
            if (_remaining == 0 && _headerFilled < HeaderSize)
            {
                var take = Math.Min(HeaderSize - _headerFilled, data.Length);
                data[..take].CopyTo(_header.AsSpan(_headerFilled));
                _headerFilled += take;
                data = data[take..];
                if (_headerFilled == HeaderSize)
                {
                    BeginFrame();
                }
                continue;
            }

            var chunk = data[..Math.Min(_remaining, data.Length)];
            Accept(chunk);
            _remaining -= chunk.Length;
            data = data[chunk.Length..];
            if (_remaining == 0)
            {
                EndFrame();
            }
        }
    }

    public string Stdout => Decode(_stdout);

    public string Stderr => Decode(_stderr);

    public string Logs
    {
        get
        {
            ReleaseHeld();
            return Decode(_combined);
        }
    }

    private void BeginFrame()
    {
        _kind = _header[0];
        var length = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(1));
        if (_kind is not (LauncherFrames.Stdout or LauncherFrames.Stderr or LauncherFrames.Exit or LauncherFrames.Ready
                or LauncherFrames.Accepted or LauncherFrames.File or LauncherFrames.Dropped or LauncherFrames.Build or LauncherFrames.Case)
            || length > int.MaxValue
            || (_kind is LauncherFrames.Ready or LauncherFrames.Accepted && length != 0)
            || (_kind == LauncherFrames.Exit && length > MaxExitRecordBytes)
            || (_kind == LauncherFrames.Build && length > MaxExitRecordBytes + BuildOutputLimitBytes * 2)
            || (_kind == LauncherFrames.Case && length > 4 + MaxExitRecordBytes + 2 * caseLimitBytes)
            || (_kind == LauncherFrames.Dropped && length > MaxDroppedRecordBytes)
            || (_kind == LauncherFrames.File && length > LauncherFrames.PathLengthSize + MaxPathBytes + maxFileBytes))
        {
            Corrupt = true;
            return;
        }
        _remaining = (int)length;
        if (_kind is LauncherFrames.Exit or LauncherFrames.File or LauncherFrames.Dropped or LauncherFrames.Build or LauncherFrames.Case)
        {
            _exitRecord = new ArrayBufferWriter<byte>((int)Math.Min(length, 1 << 20) + 1);
        }
        if (_remaining == 0)
        {
            EndFrame();
        }
    }

    private void Accept(ReadOnlySpan<byte> chunk)
    {
        switch (_kind)
        {
            case LauncherFrames.Exit or LauncherFrames.File or LauncherFrames.Dropped or LauncherFrames.Build or LauncherFrames.Case:
                _exitRecord!.Write(chunk);
                break;
            default:
                Write(_kind == LauncherFrames.Stdout, chunk);
                break;
        }
    }

    /// <summary>
    /// Output that arrives in other frames than the launcher's run frames (a stateful sandbox's call), kept within the
    /// limit as theirs is; returns how many of the bytes were kept.
    /// </summary>
    public int Write(bool stdout, ReadOnlySpan<byte> chunk)
    {
        var before = TotalBytes;
        if (stdout)
        {
            StdoutTruncated |= !Append(_stdout, chunk);
        }
        else
        {
            StderrTruncated |= !Append(_stderr, chunk);
        }
        return (int)(TotalBytes - before);
    }

    private bool Append(ArrayBufferWriter<byte> stream, ReadOnlySpan<byte> chunk)
    {
        var room = (int)Math.Max(0, limitBytes - TotalBytes);
        var kept = chunk[..Math.Min(room, chunk.Length)];
        stream.Write(kept);
        if (kept.Length > 0)
        {
            AddToLog(stream == _stdout, kept);
        }
        if (kept.Length < chunk.Length)
        {
            OverLimit = true;
            return false;
        }
        return true;
    }

    /// <summary>
    /// Adds output to the combined log. Up to <see cref="MaxFineSegments"/> segments, as it comes. Past them, output
    /// that would start a new segment is held per stream and enters the log in turns once the held bytes reach the grain
    /// (output limit / <see cref="MaxFineSegments"/>, at least 256 bytes): within a turn, the stream that continues the
    /// last segment first, then the other. Each stream keeps its own order; only their interleaving gets coarser.
    /// </summary>
    private void AddToLog(bool stdout, ReadOnlySpan<byte> bytes)
    {
        var continues = _segments.Count > 0 && (_segments[^1] > 0) == stdout;
        if (_segments.Count < MaxFineSegments || (continues && _heldStdout.WrittenCount == 0 && _heldStderr.WrittenCount == 0))
        {
            WriteToLog(stdout, bytes);
            return;
        }
        (stdout ? _heldStdout : _heldStderr).Write(bytes);
        if (_heldStdout.WrittenCount + _heldStderr.WrittenCount >= _grain)
        {
            ReleaseHeld();
        }
    }

    private void ReleaseHeld()
    {
        var stdoutFirst = _segments.Count == 0 || _segments[^1] > 0;
        foreach (var stdout in stdoutFirst ? new[] { true, false } : [false, true])
        {
            var held = stdout ? _heldStdout : _heldStderr;
            if (held.WrittenCount > 0)
            {
                WriteToLog(stdout, held.WrittenSpan);
                held.ResetWrittenCount();
            }
        }
    }

    private void WriteToLog(bool stdout, ReadOnlySpan<byte> bytes)
    {
        _combined.Write(bytes);
        // Which bytes of the combined log are stdout and which stderr, in write order: stdout lengths positive,
        // stderr negative, neighbours of one stream merged. The log can be split back into its writes from it.
        var length = stdout ? bytes.Length : -bytes.Length;
        if (_segments.Count > 0 && Math.Sign(_segments[^1]) == Math.Sign(length))
        {
            _segments[^1] += length;
        }
        else
        {
            _segments.Add(length);
        }
    }

    private void EndFrame()
    {
        _headerFilled = 0;
        if (_kind == LauncherFrames.Accepted)
        {
            JobAccepted = true;
        }
        if (_kind == LauncherFrames.File)
        {
            AcceptFile(_exitRecord!.WrittenSpan);
            return;
        }
        if (_kind == LauncherFrames.Dropped)
        {
            AcceptDropped(_exitRecord!.WrittenSpan);
            return;
        }
        if (_kind == LauncherFrames.Build)
        {
            Build = Record(_exitRecord!.WrittenSpan, LauncherJsonContext.Default.LauncherBuild);
            return;
        }
        if (_kind == LauncherFrames.Case)
        {
            AcceptCase(_exitRecord!.WrittenSpan);
            return;
        }
        if (_kind != LauncherFrames.Exit) // 'r' (ready) matters only to the pool, which watches a container's start
        {
            return;
        }
        ReleaseHeld(); // the output is complete: what was held goes with the result
        try
        {
            Exit = JsonSerializer.Deserialize(_exitRecord!.WrittenSpan, LauncherJsonContext.Default.LauncherExit);
            Corrupt = Exit is null;
        }
        catch (JsonException)
        {
            Corrupt = true;
        }
    }

    /// <summary>The most of the compiler's output a build record may carry (its JSON may escape each byte to six).</summary>
    public const int BuildOutputLimitBytes = 6 * 256 * 1024;

    private T? Record<T>(ReadOnlySpan<byte> payload, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) where T : class
    {
        try
        {
            var record = JsonSerializer.Deserialize(payload, type);
            Corrupt |= record is null;
            return record;
        }
        catch (JsonException)
        {
            Corrupt = true;
            return null;
        }
    }

    /// <summary>A case frame: 4 bytes big-endian header length, the JSON header, the case's stdout, its stderr.</summary>
    private void AcceptCase(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 4 || BinaryPrimitives.ReadUInt32BigEndian(payload) is var headerLength && headerLength > payload.Length - 4)
        {
            Corrupt = true;
            return;
        }
        var record = Record(payload.Slice(4, (int)headerLength), LauncherJsonContext.Default.LauncherCase);
        var rest = payload[(4 + (int)headerLength)..];
        if (record is null || record.StdoutSize < 0 || record.StderrSize < 0 || record.StdoutSize + record.StderrSize != rest.Length
            || record.StdoutSize > caseLimitBytes || record.StderrSize > caseLimitBytes || record.Index != _cases.Count)
        {
            Corrupt = true;
            return;
        }
        _cases.Add(new CaseOutput(record, rest[..(int)record.StdoutSize].ToArray(), rest[(int)record.StdoutSize..].ToArray()));
    }

    /// <summary>A file frame: 2 bytes big-endian path length, the path (relative to out/), the content.</summary>
    private void AcceptFile(ReadOnlySpan<byte> payload)
    {
        const int prefix = LauncherFrames.PathLengthSize;
        if (payload.Length < prefix || BinaryPrimitives.ReadUInt16BigEndian(payload) is var pathLength && payload.Length < prefix + pathLength)
        {
            Corrupt = true;
            return;
        }
        var path = Encoding.UTF8.GetString(payload.Slice(prefix, pathLength));
        var content = payload[(prefix + pathLength)..];
        if (!OutFileNames.IsValid(path) || _files.Any(f => f.Path == path))
        {
            Drop(path, content.Length, "bad_name");
        }
        else if (_files.Count >= maxFiles)
        {
            Drop(path, content.Length, "count_limit");
        }
        else if (_fileBytes + content.Length > maxFileBytes)
        {
            Drop(path, content.Length, "size_limit");
        }
        else
        {
            _fileBytes += content.Length;
            _files.Add(new RunOutputFile(path, content.Length, Convert.ToHexStringLower(SHA256.HashData(content)), OutFileNames.ContentType(path))
            {
                Content = content.ToArray(),
            });
        }
    }

    private void AcceptDropped(ReadOnlySpan<byte> payload)
    {
        try
        {
            if (JsonSerializer.Deserialize(payload, LauncherJsonContext.Default.DroppedFile) is { } dropped)
            {
                Drop(dropped.Path.Length > MaxPathBytes ? dropped.Path[..MaxPathBytes] : dropped.Path, dropped.Size, dropped.Reason);
            }
        }
        catch (JsonException)
        {
            Corrupt = true;
        }
    }

    private void Drop(string path, long size, string reason)
    {
        if (_dropped.Count < MaxDropped)
        {
            _dropped.Add(new DroppedFile(path, Math.Max(0, size), reason.Length > 40 ? reason[..40] : reason));
        }
    }

    /// <summary>One test case's end: the launcher's record and what the program wrote.</summary>
    public sealed record CaseOutput(LauncherCase Record, byte[] Stdout, byte[] Stderr);

    // Invalid UTF-8 from the script becomes U+FFFD: the result is always valid JSON text.
    private static string Decode(ArrayBufferWriter<byte> bytes) => Encoding.UTF8.GetString(bytes.WrittenSpan);
}
