using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Executor.EndToEndTests;

/// <summary>A span as the services exported it.</summary>
public sealed record ReceivedSpan(
    string Service, string Scope, string TraceId, string SpanId, string? ParentSpanId, string Name,
    ulong StartNanos, ulong EndNanos, IReadOnlyDictionary<string, string> Attributes);

/// <summary>
/// A minimal OTLP/HTTP collector for the tests: the services export to it exactly as they would to any collector,
/// and it keeps the spans. Traces are decoded from protobuf by hand (only the fields the tests read); metrics and
/// logs are accepted and dropped.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();

    private OtlpReceiver(WebApplication app) => _app = app;

    public Uri Endpoint => new(_app.Urls.First());

    public IReadOnlyCollection<ReceivedSpan> Spans => _spans;

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/traces", async (HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            foreach (var span in OtlpTraces.Decode(body.ToArray()))
            {
                receiver._spans.Enqueue(span);
            }
            return Results.Ok();
        });
        app.MapPost("/v1/metrics", () => Results.Ok());
        app.MapPost("/v1/logs", () => Results.Ok());
        await app.StartAsync();
        return receiver;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

/// <summary>Just enough of the protobuf wire format to read ExportTraceServiceRequest.</summary>
public static class OtlpTraces
{
    public static IEnumerable<ReceivedSpan> Decode(byte[] request)
    {
        foreach (var resourceSpans in Fields(request).Where(f => f.Number == 1))
        {
            var service = "";
            var fields = Fields(resourceSpans.Bytes).ToList();
            foreach (var resource in fields.Where(f => f.Number == 1))
            {
                var attributes = Attributes(Fields(resource.Bytes).Where(f => f.Number == 1));
                service = attributes.GetValueOrDefault("service.name", "");
            }
            foreach (var scopeSpans in fields.Where(f => f.Number == 2))
            {
                var scopeFields = Fields(scopeSpans.Bytes).ToList();
                var scope = scopeFields.Where(f => f.Number == 1)
                    .Select(s => Fields(s.Bytes).Where(f => f.Number == 1).Select(f => Encoding.UTF8.GetString(f.Bytes)).FirstOrDefault())
                    .FirstOrDefault() ?? "";
                foreach (var span in scopeFields.Where(f => f.Number == 2))
                {
                    var s = Fields(span.Bytes).ToList();
                    string Hex(int n) => Convert.ToHexStringLower(s.FirstOrDefault(f => f.Number == n).Bytes ?? []);
                    var parent = Hex(4);
                    yield return new ReceivedSpan(
                        service, scope, Hex(1), Hex(2), parent.Length == 0 ? null : parent,
                        Encoding.UTF8.GetString(s.First(f => f.Number == 5).Bytes),
                        s.FirstOrDefault(f => f.Number == 7).Value, s.FirstOrDefault(f => f.Number == 8).Value,
                        Attributes(s.Where(f => f.Number == 9)));
                }
            }
        }
    }

    private static Dictionary<string, string> Attributes(IEnumerable<Field> keyValues)
    {
        var attributes = new Dictionary<string, string>();
        foreach (var keyValue in keyValues)
        {
            var kv = Fields(keyValue.Bytes).ToList();
            var key = Encoding.UTF8.GetString(kv.First(f => f.Number == 1).Bytes);
            var value = kv.Where(f => f.Number == 2).Select(v => Fields(v.Bytes).FirstOrDefault()).FirstOrDefault();
            attributes[key] = value.Number switch
            {
                1 => Encoding.UTF8.GetString(value.Bytes),       // string_value
                2 => value.Value != 0 ? "true" : "false",         // bool_value
                3 => ((long)value.Value).ToString(System.Globalization.CultureInfo.InvariantCulture), // int_value
                4 => BitConverter.UInt64BitsToDouble(value.Value).ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => "",
            };
        }
        return attributes;
    }

    private readonly record struct Field(int Number, ulong Value, byte[] Bytes);

    private static IEnumerable<Field> Fields(byte[] message)
    {
        var position = 0;
        while (position < message.Length)
        {
            var tag = Varint(message, ref position);
            var number = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0:
                    yield return new Field(number, Varint(message, ref position), []);
                    break;
                case 1:
                    yield return new Field(number, BitConverter.ToUInt64(message, position), []);
                    position += 8;
                    break;
                case 2:
                    var length = (int)Varint(message, ref position);
                    yield return new Field(number, 0, message[position..(position + length)]);
                    position += length;
                    break;
                case 5:
                    yield return new Field(number, BitConverter.ToUInt32(message, position), []);
                    position += 4;
                    break;
                default:
                    throw new InvalidDataException($"unsupported wire type {tag & 7}");
            }
        }
    }

    private static ulong Varint(byte[] message, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = message[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }
    }
}
