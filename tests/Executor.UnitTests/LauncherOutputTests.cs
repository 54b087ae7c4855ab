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
    public void Alternating_one_byte_writes_make_a_bounded_number_of_segments_and_each_stream_keeps_its_order()
    {
        // 200,000 writes alternating between stdout and stderr, fed as the engine hands them over (64 KiB reads), with
        // the live view taking what is new after each read.
        const int writes = 200_000;
        var frames = new List<byte>();
        for (var i = 0; i < writes; i++)
        {
            frames.AddRange(Frame(i % 2 == 0 ? 'o' : 'e', [(byte)('a' + (i / 2 % 26))]));
        }
        frames.AddRange(Frame('x', ExitRecord));
        var output = new LauncherOutput(1024 * 1024);
        var live = new List<(bool Stdout, long Offset, byte[] Data)>();
        var all = frames.ToArray();
        for (var at = 0; at < all.Length; at += 65536)
        {
            output.Feed(all.AsSpan(at, Math.Min(65536, all.Length - at)));
            if (output.Exit is null)
            {
                output.TakeNew((stdout, offset, data) => live.Add((stdout, offset, data.ToArray())));
            }
        }

        var expected = new string([.. Enumerable.Range(0, writes / 2).Select(i => (char)('a' + (i % 26)))]);
        Assert.Equal(expected, output.Stdout);
        Assert.Equal(expected, output.Stderr);
        Assert.True(output.Segments.Count <= 2 * LauncherOutput.MaxFineSegments + 2, $"{output.Segments.Count} segments");
        // The combined log is the two streams interleaved (at a coarser grain past the first segments): split back by
        // its segments, each stream reads in its own order, and the first segments are still one byte each.
        var logs = Encoding.UTF8.GetBytes(output.Logs);
        Assert.Equal(writes, logs.Length);
        var (stdout, stderr, offset) = (new StringBuilder(), new StringBuilder(), 0);
        foreach (var segment in output.Segments)
        {
            (segment > 0 ? stdout : stderr).Append(Encoding.UTF8.GetString(logs, offset, Math.Abs(segment)));
            offset += Math.Abs(segment);
        }
        Assert.Equal((expected, expected), (stdout.ToString(), stderr.ToString()));
        Assert.All(output.Segments.Take(LauncherOutput.MaxFineSegments - 1), s => Assert.Equal(1, Math.Abs(s)));
        // What the live view took is the combined log's beginning, piece after piece.
        Assert.Equal(0, live[0].Offset);
        Assert.All(live.Zip(live.Skip(1)), p => Assert.Equal(p.First.Offset + p.First.Data.Length, p.Second.Offset));
        Assert.Equal(logs.AsSpan(0, live.Sum(l => l.Data.Length)).ToArray(), live.SelectMany(l => l.Data).ToArray());
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
