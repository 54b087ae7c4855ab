using Executor.SessionCore.Storage;
using Microsoft.Extensions.Options;

namespace Executor.SessionCore.Access;

/// <summary>
/// The caller an owner id stands for, when a request acts for an owner without presenting its key (E2B's data plane
/// presents a sandbox's own token): the key's role and quotas as the key's own requests get them, and nobody for a
/// revoked or unknown key.
/// </summary>
public sealed class CallerDirectory(IApiKeyStore keys, IOptions<AuthOptions> auth)
{
    public async Task<Caller?> FindAsync(string? owner, CancellationToken cancellationToken)
    {
        var defaults = auth.Value.Defaults.ToQuotas();
        return owner switch
        {
            null => null,
            Caller.AnonymousId => auth.Value.Required ? null : new Caller(Caller.AnonymousId, Caller.AnonymousId, Roles.User, defaults),
            Caller.OperatorId => Caller.Operator(defaults),
            _ => await keys.FindKeyAsync(owner, cancellationToken) is { RevokedAt: null } key
                ? new Caller(key.Id, key.Name, key.Role, key.Quotas.Or(defaults))
                : null,
        };
    }
}
