using System.Buffers.Binary;

namespace Executor.Contracts;

/// <summary>
/// The frames a sandbox's launcher (Sandbox/launcher.py) writes on its stdout and reads on its stdin after the job:
/// 1 byte kind, 4 bytes big-endian payload length, the payload. Written down byte by byte in Contracts/frames.md;
/// launcher.py spells the same constants in Python, and Contracts/frames.golden.json pins both sides to the same bytes.
/// </summary>
public static class LauncherFrames
{
    public const int HeaderSize = 5;

    /// <summary>Stdout, empty: the interpreter has booted and the script's process waits for its job.</summary>
    public const byte Ready = (byte)'r';

    /// <summary>Stdout, empty: the launcher has read the job; from here on it never runs anywhere else.</summary>
    public const byte Accepted = (byte)'a';

    /// <summary>Stdout: bytes the script wrote to its stdout.</summary>
    public const byte Stdout = (byte)'o';

    /// <summary>Stdout: bytes the script wrote to its stderr.</summary>
    public const byte Stderr = (byte)'e';

    /// <summary>Stdout: a file the script left in /sandbox/out: 2 bytes big-endian path length, the path, the content.</summary>
    public const byte File = (byte)'f';

    /// <summary>Stdout: a file of /sandbox/out left out, as JSON (path, size, reason).</summary>
    public const byte Dropped = (byte)'d';

    /// <summary>Stdout: the exit record, as JSON; always the last frame.</summary>
    public const byte Exit = (byte)'x';

    /// <summary>Stdout: how a compiled language's compile stage ended, as JSON, its output in it (frames.md, section 8).</summary>
    public const byte Build = (byte)'b';

    /// <summary>
    /// Stdout: one test case's end (frames.md, section 8): 4 bytes big-endian length of a JSON header, the header, then
    /// the case's stdout and stderr bytes (their sizes in the header).
    /// </summary>
    public const byte Case = (byte)'t';

    /// <summary>Stdin, after an interactive job: bytes for the script's stdin.</summary>
    public const byte Input = (byte)'i';

    /// <summary>Stdin, empty: the end of the script's input.</summary>
    public const byte InputEnd = (byte)'c';

    /// <summary>Stdout, empty, kernel mode: the kernel waits for its first call (frames.md, section 7).</summary>
    public const byte KernelReady = (byte)'k';

    /// <summary>Stdout, kernel mode: one Jupyter output of the running call, as nbformat 4 JSON.</summary>
    public const byte Message = (byte)'m';

    /// <summary>Stdout, kernel mode: a call's (or a restart's) record, as JSON; the last of its frames.</summary>
    public const byte CallRecord = (byte)'y';

    /// <summary>Stdout, kernel mode: a file operation's answer: a JSON line, then a got file's content.</summary>
    public const byte FileAnswer = (byte)'g';

    /// <summary>Stdin, kernel mode: a call, as JSON.</summary>
    public const byte Call = (byte)'q';

    /// <summary>Stdin, kernel mode, empty: interrupt the running call.</summary>
    public const byte Interrupt = (byte)'!';

    /// <summary>Stdin, kernel mode: restart the kernel, as JSON {"id"}.</summary>
    public const byte Restart = (byte)'R';

    /// <summary>Stdin, kernel mode: a file operation: a JSON line, then a put file's content.</summary>
    public const byte FileOperation = (byte)'F';

    /// <summary>The size of a file frame's path length prefix.</summary>
    public const int PathLengthSize = 2;

    /// <summary>The largest input frame the launcher takes; a larger one ends the script's input.</summary>
    public const int MaxInputPayload = 1 << 24;

    /// <summary>The ready frame, whole: what a warm container writes first.</summary>
    public static ReadOnlySpan<byte> ReadyFrame => [Ready, 0, 0, 0, 0];

    public static byte[] Encode(byte kind, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[HeaderSize + payload.Length];
        frame[0] = kind;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame.AsSpan(HeaderSize));
        return frame;
    }
}
