using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using System.Threading.Channels;
using Docker.DotNet;
using Executor.Contracts;

namespace Executor.UnitTests.Sandboxes;

/// <summary>
/// A kernel-mode launcher at the other end of a sandbox's attach stream: it reads the kernel job's header line, answers
/// <c>a</c> and <c>k</c>, then hands every request frame to the test (and to <see cref="Respond"/>, when set), and writes
/// whatever frames the test sends, wrapped as Docker's attach stream wraps stdout.
/// </summary>
internal sealed class FakeKernel
{
    private readonly Pipe _toLauncher = new();
    private readonly Pipe _fromLauncher = new();
    private readonly Lock _writeLock = new();

    public FakeKernel(bool start = true)
    {
        Stream = new MultiplexedStream(new Duplex(_fromLauncher.Reader.AsStream(), _toLauncher.Writer.AsStream()), multiplexed: true);
        Loop = RunAsync(start);
    }

    public MultiplexedStream Stream { get; }

    public Task Loop { get; }

    public TaskCompletionSource<string> Header { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Channel<(byte Kind, byte[] Payload)> Requests { get; } = Channel.CreateUnbounded<(byte, byte[])>();

    /// <summary>Frames to answer a request with, at once.</summary>
    public Func<byte, byte[], IEnumerable<(byte Kind, byte[] Payload)>>? Respond { get; set; }

    public void Send(byte kind, byte[] payload) => SendRaw(LauncherFrames.Encode(kind, payload));

    public void Send(byte kind, string payload) => Send(kind, Encoding.UTF8.GetBytes(payload));

    public void SendRaw(byte[] bytes)
    {
        var mux = new byte[8 + bytes.Length];
        mux[0] = 1; // stdout
        BinaryPrimitives.WriteUInt32BigEndian(mux.AsSpan(4), (uint)bytes.Length);
        bytes.CopyTo(mux, 8);
        lock (_writeLock)
        {
            _fromLauncher.Writer.WriteAsync(mux).AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>The container ends: its stream ends.</summary>
    public void Die()
    {
        lock (_writeLock)
        {
            _fromLauncher.Writer.Complete();
        }
    }

    public async Task<(byte Kind, byte[] Payload)> NextAsync() =>
        await Requests.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

    public static string Record(string id, string status, int? count = 1, bool restarted = false) =>
        $$"""{"id": "{{id}}", "status": "{{status}}", "execution_count": {{(count is null ? "null" : count)}}, "wall_ms": 1.5, "cpu_ms": 1.0, "max_rss_bytes": 1000, "stdout_truncated": false, "stderr_truncated": false, "kernel_restarted": {{(restarted ? "true" : "false")}}}""";

    private async Task RunAsync(bool start)
    {
        var input = _toLauncher.Reader.AsStream();
        try
        {
            var line = new List<byte>();
            var one = new byte[1];
            while (await input.ReadAsync(one) == 1 && one[0] != '\n')
            {
                line.Add(one[0]);
            }
            Header.TrySetResult(Encoding.UTF8.GetString([.. line]));
            if (start)
            {
                Send(LauncherFrames.Accepted, []);
                Send(LauncherFrames.KernelReady, []);
            }
            var header = new byte[LauncherFrames.HeaderSize];
            while (true)
            {
                await input.ReadExactlyAsync(header);
                var payload = new byte[BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(1))];
                await input.ReadExactlyAsync(payload);
                Requests.Writer.TryWrite((header[0], payload));
                foreach (var (kind, answer) in Respond?.Invoke(header[0], payload) ?? [])
                {
                    Send(kind, answer);
                }
            }
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            Header.TrySetResult("");
        }
    }

    private sealed class Duplex(Stream read, Stream write) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => write.Flush();
        public override int Read(byte[] buffer, int offset, int count) => read.Read(buffer, offset, count);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            read.ReadAsync(buffer, offset, count, cancellationToken);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            read.ReadAsync(buffer, cancellationToken);
        public override void Write(byte[] buffer, int offset, int count) => write.Write(buffer, offset, count);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await write.WriteAsync(buffer, cancellationToken);
            await write.FlushAsync(cancellationToken);
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                read.Dispose();
                write.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
