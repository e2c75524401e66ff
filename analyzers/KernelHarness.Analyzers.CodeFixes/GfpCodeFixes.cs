using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace KernelHarness.Analyzers.CodeFixes;

/// <summary>
/// KH1002: replace a blocking gfp_t with GFP_ATOMIC (or GFP_NOWAIT); KH1003: replace GFP_ATOMIC with
/// GFP_KERNEL (or GFP_NOIO / GFP_NOFS). Modifier flags OR-ed in (<c>| __GFP_ZERO</c>) are kept: only the
/// operand that carries the base flags is replaced. A gfp_t local the call passes (<c>kmalloc(n, gfp)</c>) is
/// replaced at this call only, by the value it holds with its base flags changed: the local's other uses may be
/// right as they are.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(GfpCodeFixProvider)), Shared]
public sealed class GfpCodeFixProvider : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } =
        ImmutableArray.Create(DiagnosticIds.BlockingGfpInAtomicContext, DiagnosticIds.AtomicGfpWhereSleepingAllowed);

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
            return;
        foreach (var diagnostic in context.Diagnostics)
        {
            if (root.FindNode(diagnostic.Location.SourceSpan, findInsideTrivia: false, getInnermostNodeForTie: true) is not ExpressionSyntax expr)
                continue;
            var choices = diagnostic.Id == DiagnosticIds.BlockingGfpInAtomicContext
                ? new[] { "GFP_ATOMIC", "GFP_NOWAIT" }
                : new[] { "GFP_KERNEL", "GFP_NOIO", "GFP_NOFS" };
            foreach (var name in choices)
            {
                diagnostic.Properties.TryGetValue(Summaries.Eval.GfpValueProperty, out var held);
                context.RegisterCodeFix(
                    CodeAction.Create($"Use {name}", ct => Replace(context.Document, expr.Span, name, held, ct), equivalenceKey: diagnostic.Id + ":" + name),
                    diagnostic);
            }
        }
    }

    private static async Task<Document> Replace(Document document, Microsoft.CodeAnalysis.Text.TextSpan span, string name, string? held, CancellationToken ct)
    {
        var root = await document.GetSyntaxRootAsync(ct).ConfigureAwait(false);
        if (root?.FindNode(span, findInsideTrivia: false, getInnermostNodeForTie: true) is not ExpressionSyntax expr)
            return document;
        if (held is not null)
        {
            // The local's value written at the call, its base flags replaced: `gfp` holding GFP_KERNEL | __GFP_ZERO
            // becomes GFP_ATOMIC | __GFP_ZERO here.
            var value = SyntaxFactory.ParseExpression(held);
            var rewritten = value.ReplaceNode(BaseOperand(value), SyntaxFactory.IdentifierName(name));
            return document.WithSyntaxRoot(root.ReplaceNode(expr, rewritten.WithTriviaFrom(expr)));
        }
        var target = BaseOperand(expr);
        var replacement = SyntaxFactory.IdentifierName(name).WithTriviaFrom(target);
        return document.WithSyntaxRoot(root.ReplaceNode(target, replacement));
    }

    /// <summary>In <c>GFP_KERNEL | __GFP_ZERO</c>, the operand that is not a <c>__GFP_*</c> modifier.</summary>
    private static ExpressionSyntax BaseOperand(ExpressionSyntax expr)
    {
        if (expr is ParenthesizedExpressionSyntax p)
            return BaseOperand(p.Expression);
        if (expr is BinaryExpressionSyntax b && b.IsKind(SyntaxKind.BitwiseOrExpression))
        {
            var operands = new[] { b.Left, b.Right };
            var baseOne = operands.FirstOrDefault(o => !Name(o).StartsWith("__GFP_", System.StringComparison.Ordinal));
            return baseOne is null ? expr : BaseOperand(baseOne);
        }
        return expr;
    }

    private static string Name(ExpressionSyntax e) => e switch
    {
        IdentifierNameSyntax id => id.Identifier.ValueText,
        MemberAccessExpressionSyntax m => m.Name.Identifier.ValueText,
        _ => "",
    };
}

/// <summary>KH2004: release a lock with the variant that matches how it was taken.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(LockVariantCodeFixProvider)), Shared]
public sealed class LockVariantCodeFixProvider : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticIds.MismatchedLockVariant);

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
            diagnostic.Properties.TryGetValue("Release", out var release);
            context.RegisterCodeFix(
                CodeAction.Create($"Release with {release}()", ct => Replace(context.Document, diagnostic.Location.SourceSpan, replacement, ct), equivalenceKey: "KH2004:matching-release"),
                diagnostic);
        }
    }

    private static async Task<Document> Replace(Document document, Microsoft.CodeAnalysis.Text.TextSpan span, string replacement, CancellationToken ct)
    {
        var root = await document.GetSyntaxRootAsync(ct).ConfigureAwait(false);
        if (root?.FindNode(span, findInsideTrivia: false, getInnermostNodeForTie: true) is not SyntaxNode node)
            return document;
        var invocation = node as InvocationExpressionSyntax ?? node.FirstAncestorOrSelf<InvocationExpressionSyntax>();
        if (invocation is null)
            return document;
        var newExpr = SyntaxFactory.ParseExpression(replacement).WithTriviaFrom(invocation);
        return document.WithSyntaxRoot(root.ReplaceNode(invocation, newExpr));
    }
}
