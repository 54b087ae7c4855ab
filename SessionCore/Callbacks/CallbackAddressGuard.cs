using System.Net;
using System.Net.Sockets;
using Executor.Contracts;
using Microsoft.Extensions.Options;

namespace Executor.SessionCore.Callbacks;

/// <summary>
/// Keeps callbacks off the service's own networks (SSRF): a callback_url must be http(s), and every address its host
/// resolves to must be public (<see cref="AddressRules.IsPublic"/>: not loopback, private, link-local, cloud metadata...)
/// — unless Callbacks:AllowedHosts allows it. Checked when the session is submitted, and again at every delivery by the
/// connection itself (DNS may have changed): the delivery connects only to an address checked then.
/// A refusal never says what a name resolved to, nor whether it resolved at all: a caller must not learn the
/// service's internal names and addresses from it.
/// </summary>
public sealed class CallbackAddressGuard(
    IOptionsMonitor<CallbackOptions> options,
    Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null,
    Func<IPEndPoint, CancellationToken, ValueTask<Stream>>? connect = null)
{
    public const int MaxUrlLength = 2048;

    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve = resolve ?? Dns.GetHostAddressesAsync;
    private readonly Func<IPEndPoint, CancellationToken, ValueTask<Stream>> _connect = connect ?? ConnectSocketAsync;

    /// <summary>Whether a callback to <paramref name="host"/> may go to <paramref name="address"/>: public, or allowed by Callbacks:AllowedHosts.</summary>
    public bool IsAllowed(string host, IPAddress address) => AddressRules.IsPublic(address) || IsAllowListed(host, address);

    private bool IsAllowListed(string host, IPAddress address)
    {
        var mapped = AddressRules.Unmapped(address);
        foreach (var entry in options.CurrentValue.AllowedHosts)
        {
            var allowed = entry.Trim();
            if (IPAddress.TryParse(allowed, out var exact) ? exact.Equals(mapped)
                : IPNetwork.TryParse(allowed, out var network) ? network.Contains(mapped)
                : allowed.StartsWith("*.", StringComparison.Ordinal) ? host.EndsWith(allowed[1..], StringComparison.OrdinalIgnoreCase)
                : string.Equals(allowed, host, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Why a callback_url is refused, or null when it is acceptable (its host resolved, every address allowed).</summary>
    public async Task<string?> CheckAsync(string url, CancellationToken cancellationToken)
    {
        if (url.Length > MaxUrlLength || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return $"it is not an absolute URL of at most {MaxUrlLength} characters";
        }
        if (uri.Scheme is not ("http" or "https"))
        {
            return $"only http and https are allowed, not '{uri.Scheme}'";
        }
        if (uri.UserInfo.Length > 0)
        {
            return "credentials in the URL are not allowed (the callback is signed: check its webhook-signature instead)";
        }
        var host = uri.IdnHost;
        IPAddress[] addresses;
        try
        {
            addresses = await ResolveAsync(host, cancellationToken);
        }
        catch (SocketException)
        {
            addresses = [];
        }
        // One answer for "does not resolve" and "resolves to an internal address": telling them apart would tell a
        // caller which internal names exist.
        return addresses.Length == 0 || addresses.Any(a => !IsAllowed(host, a))
            ? $"its host '{host}' must resolve, and only to public addresses (not loopback, private, link-local, cloud metadata, "
                + "multicast or reserved); an operator can allow an internal receiver with Callbacks:AllowedHosts"
            : null;
    }

    /// <summary>
    /// SocketsHttpHandler.ConnectCallback: resolves the host, keeps the allowed addresses and connects to the first that
    /// answers. Nothing is connected to when none is allowed.
    /// </summary>
    public ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken) =>
        ConnectAsync(context.DnsEndPoint.Host, context.DnsEndPoint.Port, cancellationToken);

    /// <summary>Connects to the first allowed address of <paramref name="host"/> that answers.</summary>
    public async ValueTask<Stream> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        var addresses = await ResolveAsync(host, cancellationToken);
        var allowed = addresses.Where(a => IsAllowed(host, a)).ToList();
        if (allowed.Count == 0)
        {
            // What it resolved to stays in this process (the operator's logs), never in what the caller can read.
            throw new CallbackRefusedException(
                $"'{host}' resolves to {(addresses.Length == 0 ? "nothing" : string.Join(", ", addresses.Select(a => a.ToString())))}: no address a callback may go to.");
        }
        for (var i = 0; ; i++)
        {
            try
            {
                return await _connect(new IPEndPoint(allowed[i], port), cancellationToken);
            }
            catch (SocketException) when (i < allowed.Count - 1)
            {
            }
        }
    }

    /// <summary>
    /// Whether a receiver is on a network the service reaches but callers must not map: any of its addresses is not
    /// public (an allow-listed internal host), or it does not resolve now. How a delivery there failed is not shown to
    /// the caller.
    /// </summary>
    public async Task<bool> IsInternalAsync(string host, CancellationToken cancellationToken)
    {
        try
        {
            var addresses = await ResolveAsync(host, cancellationToken);
            return addresses.Length == 0 || !addresses.All(AddressRules.IsPublic);
        }
        catch (SocketException)
        {
            return true;
        }
    }

    private async Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await _resolve(host, cancellationToken);

    private static async ValueTask<Stream> ConnectSocketAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>A callback that may not go where it points.</summary>
public sealed class CallbackRefusedException(string message) : Exception(message);
