using System.Text;
using System.Text.Json;
using Executor.Contracts;
using Executor.Runner.Sandboxes;

namespace Executor.UnitTests.Sandboxes;

public sealed class KernelFrameReaderTests
{
    [Fact]
    public void Frames_split_at_every_byte_come_out_whole_and_in_order()
    {
        byte[] stream =
        [
            .. LauncherFrames.Encode(LauncherFrames.Accepted, []), .. LauncherFrames.Encode(LauncherFrames.KernelReady, []),
            .. LauncherFrames.Encode(LauncherFrames.Stdout, "a\n"u8), .. LauncherFrames.Encode(LauncherFrames.Message, """{"output_type": "display_data"}"""u8),
            .. LauncherFrames.Encode(LauncherFrames.CallRecord, Encoding.UTF8.GetBytes(FakeKernel.Record("c1", "ok"))),
        ];
        var reader = new KernelFrameReader(maxMessageBytes: 1024, maxFileBytes: 1024);
        var frames = new List<KernelFrame>();

        foreach (var b in stream)
        {
            reader.Feed([b], frames);
        }

        Assert.False(reader.Corrupt);
        Assert.Equal("akomy", Encoding.ASCII.GetString([.. frames.Select(f => f.Kind)]));
        Assert.Equal("a\n", Encoding.UTF8.GetString(frames[2].Payload));
        Assert.Equal("c1", JsonDocument.Parse(frames[4].Payload).RootElement.GetProperty("id").GetString());
    }

    [Theory]
    [InlineData('x', 0, "unknown kind")] // a run's exit record is no kernel frame
    [InlineData('Z', 0, "unknown kind")]
    [InlineData('k', 1, "'k' frame of 1 bytes")]
    [InlineData('m', 1025, "'m' frame of 1025 bytes")]
    [InlineData('y', 64 * 1024 + 1, "'y' frame")]
    public void A_frame_of_a_kind_or_size_the_kernel_never_sends_breaks_the_stream(char kind, int length, string problem)
    {
        var reader = new KernelFrameReader(maxMessageBytes: 1024, maxFileBytes: 1024);
        var frames = new List<KernelFrame>();

        reader.Feed([.. LauncherFrames.Encode((byte)kind, new byte[length]), .. LauncherFrames.Encode(LauncherFrames.Stdout, "later"u8)], frames);

        Assert.True(reader.Corrupt);
        Assert.Contains(problem, reader.Problem);
        Assert.Empty(frames); // nothing after the broken frame is read
    }

    [Fact]
    public void An_oversized_frame_is_refused_from_its_header_before_any_of_it_is_buffered()
    {
        var reader = new KernelFrameReader(maxMessageBytes: 1024, maxFileBytes: 1024);
        var frames = new List<KernelFrame>();

        reader.Feed([LauncherFrames.FileAnswer, 0xff, 0xff, 0xff, 0xff], frames); // a 4 GiB file answer, announced

        Assert.True(reader.Corrupt);
    }

    [Fact]
    public void Call_output_merges_consecutive_writes_of_a_stream_and_keeps_messages_in_order()
    {
        var output = new CallOutput(limitBytes: 1024);

        output.Write(stdout: true, "a"u8);
        output.Write(stdout: true, "b"u8);
        output.Write(stdout: false, "oops"u8);
        Assert.True(output.AddMessage("""{"output_type": "execute_result", "execution_count": 1, "data": {"text/plain": "2"}, "metadata": {}}"""u8.ToArray()));
        output.Write(stdout: true, "c"u8);
        Assert.False(output.AddMessage("[1]"u8.ToArray()));

        var outputs = output.Outputs().Select(o => o.GetRawText()).ToList();
        Assert.Equal(
        [
            """{"output_type":"stream","name":"stdout","text":"ab"}""",
            """{"output_type":"stream","name":"stderr","text":"oops"}""",
            """{"output_type": "execute_result", "execution_count": 1, "data": {"text/plain": "2"}, "metadata": {}}""",
            """{"output_type":"stream","name":"stdout","text":"c"}""",
        ], outputs);
        Assert.Equal("abc", output.Streams.Stdout);
        Assert.Equal("aboopsc", output.Streams.Logs);
    }

    [Fact]
    public void Call_output_keeps_no_more_than_its_limit()
    {
        var output = new CallOutput(limitBytes: 4);

        output.Write(stdout: true, "abcdef"u8);

        Assert.Equal("abcd", output.Streams.Stdout);
        Assert.True(output.Streams.StdoutTruncated);
        Assert.Equal("abcd", output.Outputs().Single().GetProperty("text").GetString());
    }
}
