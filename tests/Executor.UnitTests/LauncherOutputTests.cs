using System.Buffers.Binary;
using System.Text;
using Executor.Runner.Runs;

namespace Executor.UnitTests;

public class LauncherOutputTests
{
    private static byte[] Frame(char kind, string payload) => Frame(kind, Encoding.UTF8.GetBytes(payload));

    private static byte[] Frame(char kind, byte[] payload)
    {
        var frame = new byte[5 + payload.Length];
        frame[0] = (byte)kind;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        return frame;
    }

    private const string ExitRecord = """{"outcome": "exited", "exit_code": 3, "signal": null, "cpu_ms": 2.5, "max_rss_bytes": 1000, "wall_ms": 4.0, "oom_kills": 0, "stdout_truncated": false, "stderr_truncated": false}""";

    [Fact]
    public void Frames_split_at_every_byte_decode_to_the_same_streams_in_order()
    {
        byte[] stream = [.. Frame('o', "a\n"), .. Frame('e', "b\n"), .. Frame('o', "c\n"), .. Frame('x', ExitRecord)];
        var output = new LauncherOutput(1024);

        foreach (var b in stream)
        {
            output.Feed([b]);
        }

        Assert.Equal("a\nc\n", output.Stdout);
        Assert.Equal("b\n", output.Stderr);
        Assert.Equal("a\nb\nc\n", output.Logs);
        Assert.NotNull(output.Exit);
        Assert.Equal(3, output.Exit!.ExitCode);
        Assert.Equal(2.5, output.Exit.CpuMs);
        Assert.False(output.Corrupt);
    }

    [Fact]
    public void Output_past_the_limit_is_dropped_and_flagged_per_stream()
    {
        var output = new LauncherOutput(limitBytes: 4);

        output.Feed([.. Frame('o', "abc"), .. Frame('e', "def")]);

        Assert.Equal("abc", output.Stdout);
        Assert.Equal("d", output.Stderr);
        Assert.Equal("abcd", output.Logs);
        Assert.True(output.OverLimit);
        Assert.False(output.StdoutTruncated);
        Assert.True(output.StderrTruncated);
    }

    [Fact]
    public void Invalid_utf8_becomes_replacement_characters()
    {
        var output = new LauncherOutput(1024);

        output.Feed(Frame('o', [0x66, 0xff, 0x6f]));

        Assert.Equal("f\uFFFDo", output.Stdout);
    }

    [Fact]
    public void A_multibyte_character_split_across_frames_survives()
    {
        var euro = Encoding.UTF8.GetBytes("€");
        var output = new LauncherOutput(1024);

        output.Feed([.. Frame('o', euro[..1]), .. Frame('o', euro[1..])]);

        Assert.Equal("€", output.Stdout);
    }

    [Fact]
    public void An_unknown_frame_kind_marks_the_stream_corrupt()
    {
        var output = new LauncherOutput(1024);

        output.Feed([.. Frame('o', "fine"), .. Frame('z', "forged")]);

        Assert.True(output.Corrupt);
        Assert.Equal("fine", output.Stdout);
        Assert.Null(output.Exit);
    }

    [Fact]
    public void Nothing_after_the_exit_record_is_read()
    {
        var output = new LauncherOutput(1024);

        output.Feed([.. Frame('x', ExitRecord), .. Frame('o', "late")]);

        Assert.NotNull(output.Exit);
        Assert.Equal("", output.Stdout);
    }

    [Fact]
    public void The_ready_frame_of_a_cold_container_is_ignored()
    {
        var output = new LauncherOutput(1024);

        output.Feed([.. Frame('r', ""), .. Frame('o', "hi"), .. Frame('x', ExitRecord)]);

        Assert.Equal("hi", output.Stdout);
        Assert.NotNull(output.Exit);
        Assert.False(output.Corrupt);
    }

    private static byte[] FileFrame(string path, byte[] content)
    {
        var name = Encoding.UTF8.GetBytes(path);
        var payload = new byte[2 + name.Length + content.Length];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)name.Length);
        name.CopyTo(payload, 2);
        content.CopyTo(payload, 2 + name.Length);
        return Frame('f', payload);
    }

    [Fact]
    public void Files_are_hashed_typed_and_held_to_their_limits_again_whatever_the_sandbox_sends()
    {
        byte[] stream =
        [
            .. Frame('o', "hi\n"),
            .. FileFrame("plot.png", [1, 2, 3]),
            .. FileFrame("../etc/passwd", [4]),
            .. FileFrame("plot.png", [5]),
            .. FileFrame("data/table.csv", "a,b\n"u8.ToArray()),
            .. FileFrame("big.bin", new byte[10]),
            .. FileFrame("third.txt", [6]),
            .. FileFrame("fourth.txt", [7]),
            .. Frame('d', """{"path": "fifo", "size": 0, "reason": "not_a_regular_file"}"""),
            .. Frame('x', ExitRecord),
        ];
        var output = new LauncherOutput(1024, maxFiles: 3, maxFileBytes: 8);

        output.Feed(stream);

        Assert.False(output.Corrupt);
        Assert.NotNull(output.Exit);
        Assert.Equal(["plot.png", "data/table.csv", "third.txt"], output.Files.Select(f => f.Path));
        var png = output.Files[0];
        Assert.Equal((3L, "image/png"), (png.Size, png.ContentType));
        Assert.Equal([1, 2, 3], png.Content!);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(new byte[] { 1, 2, 3 })), png.Sha256);
        Assert.Equal("text/csv", output.Files[1].ContentType);
        Assert.Equal(
            [("../etc/passwd", "bad_name"), ("plot.png", "bad_name"), ("big.bin", "size_limit"), ("fourth.txt", "count_limit"), ("fifo", "not_a_regular_file")],
            output.DroppedFiles.Select(d => (d.Path, d.Reason)));
    }

    [Fact]
    public void A_file_frame_larger_than_the_file_limit_allows_breaks_the_protocol()
    {
        var output = new LauncherOutput(1024, maxFiles: 2, maxFileBytes: 8);

        output.Feed(FileFrame("a.bin", new byte[8 + 2000]));

        Assert.True(output.Corrupt);
        Assert.Empty(output.Files);
    }
}
