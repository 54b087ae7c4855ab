using Microsoft.AspNetCore.Builder;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// A proxy that re-adds every incoming header (the learning platform's Go gateway does) sends Content-Type twice, and
/// ASP.NET reads the two as one comma-joined value that no longer parses as a form. The same value repeated is one
/// value: it is read as one. Different values stay as they came (and are refused as an unreadable body).
/// </summary>
public static class RepeatedContentType
{
    public static IApplicationBuilder UseRepeatedContentTypeAsOne(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        var values = context.Request.Headers.ContentType;
        if (values.Count > 1 || (values.Count == 1 && values[0]!.Contains(',', StringComparison.Ordinal)))
        {
            var distinct = values.SelectMany(v => SplitOutsideQuotes(v ?? ""))
                .Select(v => v.Trim())
                .Where(v => v.Length > 0)
                .Distinct(StringComparer.OrdinalIgnoreCase)
                .ToList();
            if (distinct.Count == 1)
            {
                context.Request.Headers.ContentType = distinct[0];
            }
        }
        return next(context);
    });

    /// <summary>Media types joined by commas; a comma inside a quoted parameter value is part of it.</summary>
    public static IEnumerable<string> SplitOutsideQuotes(string value)
    {
        var start = 0;
        var quoted = false;
        for (var i = 0; i < value.Length; i++)
        {
            switch (value[i])
            {
                case '"':
                    quoted = !quoted;
                    break;
                case '\\' when quoted:
                    i++;
                    break;
                case ',' when !quoted:
                    yield return value[start..i];
                    start = i + 1;
                    break;
            }
        }
        yield return value[start..];
    }
}
