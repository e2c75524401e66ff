using System.Collections.Immutable;
using System.Composition;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace KernelHarness.Analyzers.CodeFixes;

/// <summary>
/// KH3001: free the memory with the function that matches its allocation (<c>kmem_cache_free</c> of the
/// same cache, <c>kfree</c>, <c>vfree</c>, <c>free_pages</c> of the same order). The analyzer puts the
/// replacement call in the diagnostic's <c>Replacement</c> property when it can name it at the free.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(MatchingFreeCodeFixProvider)), Shared]
public sealed class MatchingFreeCodeFixProvider : CodeFixProvider
{
    public const string EquivalenceKey = "KH3001:MatchingFree";

    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticIds.MismatchedFree);

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
            if (root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true) is not InvocationExpressionSyntax)
                continue;
            context.RegisterCodeFix(
                CodeAction.Create($"Use {replacement}", ct => Replace(context.Document, diagnostic.Location.SourceSpan, replacement, ct), EquivalenceKey),
                diagnostic);
        }
    }

    private static async Task<Document> Replace(Document document, Microsoft.CodeAnalysis.Text.TextSpan span, string replacement, CancellationToken ct)
    {
        var root = await document.GetSyntaxRootAsync(ct).ConfigureAwait(false);
        if (root?.FindNode(span, getInnermostNodeForTie: true) is not InvocationExpressionSyntax call)
            return document;
        var expr = SyntaxFactory.ParseExpression(replacement).WithTriviaFrom(call);
        return document.WithSyntaxRoot(root.ReplaceNode(call, expr));
    }
}
