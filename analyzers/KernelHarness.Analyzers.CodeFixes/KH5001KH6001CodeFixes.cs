using System.Collections.Immutable;
using System.Composition;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace KernelHarness.Analyzers.CodeFixes;

/// <summary>KH5001: a raw jiffies comparison becomes <c>time_after</c>/<c>time_before</c>/<c>time_after_eq</c>/<c>time_before_eq</c>.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(TimeComparisonCodeFixProvider)), Shared]
public sealed class TimeComparisonCodeFixProvider : CodeFixProvider
{
    public const string EquivalenceKey = "KH5001:TimeComparison";

    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticIds.RawJiffiesComparison);

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
            return;
        foreach (var diagnostic in context.Diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue("Replacement", out var replacement) || replacement is null)
                continue;
            if (root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true) is not BinaryExpressionSyntax)
                continue;
            var name = replacement.Substring(0, replacement.IndexOf('('));
            context.RegisterCodeFix(
                CodeAction.Create($"Use {name}()", ct => Replace(context.Document, diagnostic.Location.SourceSpan, replacement, ct), EquivalenceKey),
                diagnostic);
        }
    }

    private static async Task<Document> Replace(Document document, Microsoft.CodeAnalysis.Text.TextSpan span, string replacement, CancellationToken ct)
    {
        var root = await document.GetSyntaxRootAsync(ct).ConfigureAwait(false);
        if (root?.FindNode(span, getInnermostNodeForTie: true) is not BinaryExpressionSyntax b)
            return document;
        return document.WithSyntaxRoot(root.ReplaceNode(b, SyntaxFactory.ParseExpression(replacement).WithTriviaFrom(b)));
    }
}

/// <summary>KH6001: <c>current.mm == init_mm</c> becomes <c>current.mm == null</c>.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(InitMmCodeFixProvider)), Shared]
public sealed class InitMmCodeFixProvider : CodeFixProvider
{
    public const string EquivalenceKey = "KH6001:CompareWithNull";

    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticIds.InitMmUserContextTest);

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        foreach (var diagnostic in context.Diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue("InitMmStart", out var s) || !int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var start))
                continue;
            context.RegisterCodeFix(
                CodeAction.Create("Compare mm with null", ct => Replace(context.Document, start, ct), EquivalenceKey),
                diagnostic);
        }
        return Task.CompletedTask;
    }

    private static async Task<Document> Replace(Document document, int start, CancellationToken ct)
    {
        var root = await document.GetSyntaxRootAsync(ct).ConfigureAwait(false);
        var token = root?.FindToken(start);
        if (root is null || token is null)
            return document;
        SyntaxNode? node = token.Value.Parent;
        while (node?.Parent is MemberAccessExpressionSyntax m && m.Name == node)
            node = m;
        if (node is not ExpressionSyntax expr)
            return document;
        var literal = SyntaxFactory.LiteralExpression(SyntaxKind.NullLiteralExpression).WithTriviaFrom(expr);
        return document.WithSyntaxRoot(root.ReplaceNode(expr, literal));
    }
}
