using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.Contracts;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;

namespace Executor.Session.Live;

/// <summary>One event of a session as it happens: its type, its JSON payload, and the byte offset it leaves the output at (its id).</summary>
public sealed record LiveEvent(string Type, JsonObject Data, string? Id);

/// <summary>
/// A session as it happens, for the Server-Sent Events of GET /result/{id}/events and the WebSocket of
/// GET /result/{id}/attach: "state" events (queued, running), "stdout" and "stderr" events with the text as the script
/// writes it, in write order, each with its byte offset in the combined output, and one final "result" event with the
/// whole result. Each output event's id is the offset after it, so a client resumes from an id without loss or
/// duplicates; a client that comes after the end gets the whole output and the result at once. Any replica serves any
/// session: the output is in the store. The output cap applies as to the result: the stream carries what the result keeps.
/// </summary>
public static class SessionFeed
{
    public const string StdoutEvent = "stdout";
    public const string StderrEvent = "stderr";
    public const string StateEvent = "state";
    public const string ResultEvent = "result";
    public const string PingEvent = "ping";
    public const string EndId = "end";

    private static readonly TimeSpan LookAgain = TimeSpan.FromSeconds(1);

    /// <summary>The most segments a result's replay sends as they are: a runner keeps about 4096 at most.</summary>
    private const int MaxReplaySegments = 8192;
    private static readonly TimeSpan PingEvery = TimeSpan.FromSeconds(15);

    /// <summary>The session's events from output offset <paramref name="from"/> on, until its result.</summary>
    public static async IAsyncEnumerable<LiveEvent> StreamAsync(
        string sessionId, long from, ISessionStore store, IOutputLog log, SessionSignals signals, TimeProvider time,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var sent = from;
        string? state = null;
        var lastEvent = time.GetTimestamp();
        while (true)
        {
            // Listen first, then look: output or an end that comes in between is never missed.
            var more = signals.WhenOutput(sessionId, cancellationToken);
            var ended = signals.WhenEnded(sessionId, cancellationToken);
            var session = await store.FindAsync(sessionId, cancellationToken);
            if (session is null)
            {
                yield break; // purged meanwhile
            }
            if (SessionStatus.IsTerminal(session.Status))
            {
                // The rest comes from the result, which holds all of the output.
                foreach (var item in Replay(session.Result!, sent))
                {
                    yield return item;
                }
                yield return new LiveEvent(ResultEvent, JsonSerializer.SerializeToNode(SessionResults.From(session), SessionResults.Json)!.AsObject(), EndId);
                yield break;
            }
            if (session.Status != state)
            {
                state = session.Status;
                yield return new LiveEvent(StateEvent, new JsonObject { ["state"] = state }, Id(sent));
                lastEvent = time.GetTimestamp();
            }
            foreach (var chunk in Contiguous(await log.ReadOutputAsync(sessionId, sent, cancellationToken)))
            {
                var start = Math.Max(sent, chunk.Offset);
                var (emitted, body) = OutputText.Decode(chunk, start);
                if (emitted > start)
                {
                    yield return Output(chunk.Stdout, start, body, emitted);
                    sent = emitted;
                    lastEvent = time.GetTimestamp();
                }
            }
            if (time.GetElapsedTime(lastEvent) >= PingEvery)
            {
                yield return new LiveEvent(PingEvent, [], null);
                lastEvent = time.GetTimestamp();
            }
            await Task.WhenAny(more, ended, Task.Delay(LookAgain, time, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Neighbouring pieces of one stream as one: a character split between them is whole again.</summary>
    private static IEnumerable<OutputChunk> Contiguous(IReadOnlyList<OutputChunk> chunks)
    {
        var run = new List<OutputChunk>();
        foreach (var chunk in chunks)
        {
            if (run.Count > 0 && (run[^1].Stdout != chunk.Stdout || run[^1].End != chunk.Offset))
            {
                yield return Joined(run);
                run.Clear();
            }
            run.Add(chunk);
        }
        if (run.Count > 0)
        {
            yield return Joined(run);
        }
    }

    /// <summary>A run of neighbouring pieces as one, copied once (joining them pairwise would copy a long run over and over).</summary>
    private static OutputChunk Joined(List<OutputChunk> run)
    {
        if (run.Count == 1)
        {
            return run[0];
        }
        var data = new byte[run.Sum(c => c.Data.Length)];
        var at = 0;
        foreach (var chunk in run)
        {
            chunk.Data.CopyTo(data, at);
            at += chunk.Data.Length;
        }
        return run[0] with { Data = data };
    }

    /// <summary>The output from <paramref name="from"/> on, as the result holds it, split back into its writes.</summary>
    private static IEnumerable<LiveEvent> Replay(RunResult result, long from)
    {
        var bytes = Encoding.UTF8.GetBytes(result.Logs);
        // Without its segments (written before they were kept), or with more than a result holds now (written before
        // they were bounded), the output replays as its stdout, then its stderr: a bounded replay whatever was stored.
        IReadOnlyList<int> segments = result.Segments is { Count: <= MaxReplaySegments } known && known.Sum(Math.Abs) == bytes.Length
            ? known
            : [Encoding.UTF8.GetByteCount(result.Stdout), -Encoding.UTF8.GetByteCount(result.Stderr)];
        long offset = 0;
        foreach (var segment in segments)
        {
            var length = Math.Abs(segment);
            var end = offset + length;
            if (length > 0 && end > from && end <= bytes.Length)
            {
                var start = Math.Max(from, offset);
                var body = Encoding.UTF8.GetString(bytes, (int)start, (int)(end - start));
                yield return Output(segment > 0, start, body, end);
            }
            offset = end;
        }
    }

    private static LiveEvent Output(bool stdout, long offset, string text, long end) =>
        new(stdout ? StdoutEvent : StderrEvent, new JsonObject { ["offset"] = offset, ["text"] = text }, Id(end));

    private static string Id(long offset) => offset.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Turns output bytes into text without splitting a character: a piece that ends inside one leaves those bytes for
    /// the next piece of the same stream when it follows at once, and the event's id stops before them.
    /// </summary>
    private static class OutputText
    {
        private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

        /// <summary>The offset up to which the text goes, and the text, of the chunk's bytes from <paramref name="start"/>.</summary>
        public static (long End, string Text) Decode(OutputChunk chunk, long start)
        {
            var bytes = chunk.Data.AsSpan((int)(start - chunk.Offset));
            var complete = bytes.Length - IncompleteTail(bytes);
            return (start + complete, Utf8.GetString(bytes[..complete]));
        }

        /// <summary>How many bytes at the end begin a character that is not whole (0 to 3).</summary>
        private static int IncompleteTail(ReadOnlySpan<byte> bytes)
        {
            for (var back = 1; back <= Math.Min(3, bytes.Length); back++)
            {
                var b = bytes[^back];
                if ((b & 0xC0) == 0x80)
                {
                    continue; // a continuation byte: look further back for its lead
                }
                var needed = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
                return needed > back ? back : 0;
            }
            return 0;
        }
    }
}
