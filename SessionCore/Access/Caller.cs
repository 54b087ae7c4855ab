using System.Security.Claims;
using System.Text.Json;

namespace Executor.SessionCore.Access;

/// <summary>Who is calling: a key (its id, name, role and quotas), or the anonymous caller of the open mode.</summary>
public sealed record Caller(string Id, string Name, string Role, Quotas Quotas)
{
    public const string AnonymousId = "anonymous";
    private const string QuotasClaim = "executor:quotas";

    public const string OperatorId = "operator";

    public bool IsOperator => Role == Roles.Operator;

    /// <summary>The operator (EXECUTOR_OPERATOR_KEY): no quota but the server's defaults' ceilings.</summary>
    public static Caller Operator(Quotas defaults) => new(OperatorId, "operator (EXECUTOR_OPERATOR_KEY)", Roles.Operator, Quotas.None.Or(defaults));

    /// <summary>Whether this caller may see the session (its own, or any for an operator).</summary>
    public bool Owns(string? owner) => IsOperator || owner == Id;

    public ClaimsPrincipal ToPrincipal(string scheme) => new(new ClaimsIdentity(
    [
        new Claim(ClaimTypes.NameIdentifier, Id),
        new Claim(ClaimTypes.Name, Name),
        new Claim(ClaimTypes.Role, Role),
        new Claim(QuotasClaim, JsonSerializer.Serialize(Quotas)),
    ], scheme));

    /// <summary>The request's caller: its key's, or the anonymous one (the open mode lets it in from loopback only).</summary>
    public static Caller Of(HttpContext context, AuthOptions options)
    {
        var user = context.User;
        if (user.Identity?.IsAuthenticated == true && user.FindFirstValue(ClaimTypes.NameIdentifier) is { } id)
        {
            return new Caller(id, user.FindFirstValue(ClaimTypes.Name) ?? id, user.FindFirstValue(ClaimTypes.Role) ?? Roles.User,
                JsonSerializer.Deserialize<Quotas>(user.FindFirstValue(QuotasClaim) ?? "{}") ?? options.Defaults.ToQuotas());
        }
        return new Caller(AnonymousId, AnonymousId, Roles.User, options.Defaults.ToQuotas());
    }
}
