using System.Linq;
using KernelHarness.Analyzers.ContextEngine;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// KH5002: <c>schedule()</c> (or <c>schedule_timeout</c>) after <c>prepare_to_wait</c> in the same method,
/// not inside a loop (<c>while</c>/<c>for</c>/<c>do</c>, or a backward <c>goto</c>) that re-tests the
/// condition — the loop form of LKD chapter 4. <c>wait_event*</c> loops by itself and is never flagged.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class WaitWithoutRecheckAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH5002;

    private protected override void AnalyzeFile(FileContext file)
    {
        var k = file.Symbols;
        foreach (var site in file.Operations(OperationKind.Invocation))
        {
            var inv = (IInvocationOperation)site.Operation;
            if (k.Info(inv.TargetMethod).Role == Role.Schedule && UnguardedPrepare(k, inv) is { } prepare)
                file.Report(Diagnostic.Create(Descriptors.KH5002, inv.Syntax.GetLocation(),
                    k.DisplayName(inv.TargetMethod) + "()", k.DisplayName(prepare.TargetMethod) + "()", Kinds.Where(prepare.Syntax.GetLocation())));
        }
    }

    /// <summary>
    /// Does the loop test something again each time round? A while / do-while, or a for without a step, tests
    /// its condition (LKD's <c>while (!condition)</c>); a counting for, a foreach or an endless loop counts only
    /// when its body leaves it conditionally (<c>if (condition) break;</c>, a return or goto out).
    /// </summary>
    private static bool RetestsCondition(ILoopOperation loop)
    {
        switch (loop)
        {
            case IWhileLoopOperation { Condition: { } c } when c.ConstantValue is not { HasValue: true, Value: true }:
                return true;
            case IForLoopOperation { Condition: { } c, AtLoopBottom.IsEmpty: true } when c.ConstantValue is not { HasValue: true, Value: true }:
                return true;
        }
        foreach (var op in loop.Body.DescendantsAndSelf())
        {
            if (op is not IConditionalOperation cond)
                continue;
            foreach (var exit in cond.WhenTrue.DescendantsAndSelf().Concat(cond.WhenFalse?.DescendantsAndSelf() ?? Enumerable.Empty<IOperation>()))
                if (exit is IReturnOperation { IsImplicit: false } or IBranchOperation { BranchKind: BranchKind.Break or BranchKind.GoTo })
                    return true;
        }
        return false;
    }

    /// <summary>The prepare_to_wait before a schedule() that no loop (or backward goto) re-runs, or null.</summary>
    private static IInvocationOperation? UnguardedPrepare(KernelSymbols k, IInvocationOperation inv)
    {
        // The enclosing function: stop at a lambda or local function.
        IOperation root = inv;
        for (var p = inv.Parent; p is not null; p = p.Parent)
        {
            if (p is ILoopOperation loop && RetestsCondition(loop))
                return null;
            root = p;
            if (p is IAnonymousFunctionOperation or ILocalFunctionOperation)
                break;
        }
        var prepare = root.DescendantsAndSelf().OfType<IInvocationOperation>()
            .Where(i => k.Info(i.TargetMethod).Role == Role.PrepareToWait && i.Syntax.SpanStart < inv.Syntax.SpanStart)
            .OrderByDescending(i => i.Syntax.SpanStart).FirstOrDefault();
        if (prepare is null)
            return null;
        // A backward goto after the schedule() to a label before it is a loop too.
        var pos = inv.Syntax.SpanStart;
        foreach (var g in root.Syntax.DescendantNodes().OfType<GotoStatementSyntax>())
        {
            if (g.SpanStart <= pos || g.Expression is not IdentifierNameSyntax id)
                continue;
            var label = root.Syntax.DescendantNodes().OfType<LabeledStatementSyntax>().FirstOrDefault(l => l.Identifier.ValueText == id.Identifier.ValueText);
            if (label is not null && label.SpanStart < pos)
                return null;
        }
        return prepare;
    }
}
