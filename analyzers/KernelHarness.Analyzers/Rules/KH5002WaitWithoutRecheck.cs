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
    /// Does the loop test the wait condition again each time round? A while / do-while, or a for without a step,
    /// tests its condition (LKD's <c>while (!condition)</c>); a counting for, a foreach or an endless loop counts
    /// only when its body leaves it conditionally (<c>if (condition) break;</c>, a return or goto out). Either
    /// test must read something another context can change (<see cref="ReadsSharedState"/>): a loop that counts
    /// its own tries, or tests a local nothing updates, sleeps again whatever the condition says.
    /// </summary>
    private static bool RetestsCondition(ILoopOperation loop, IOperation function)
    {
        switch (loop)
        {
            case IWhileLoopOperation { Condition: { } c } when c.ConstantValue is not { HasValue: true, Value: true } && ReadsSharedState(c, loop, function, 0):
                return true;
            case IForLoopOperation { Condition: { } c, AtLoopBottom.IsEmpty: true } when c.ConstantValue is not { HasValue: true, Value: true } && ReadsSharedState(c, loop, function, 0):
                return true;
        }
        foreach (var op in loop.Body.DescendantsAndSelf())
        {
            if (op is not IConditionalOperation cond || !ReadsSharedState(cond.Condition, loop, function, 0))
                continue;
            foreach (var exit in cond.WhenTrue.DescendantsAndSelf().Concat(cond.WhenFalse?.DescendantsAndSelf() ?? Enumerable.Empty<IOperation>()))
                if (exit is IReturnOperation { IsImplicit: false } or IBranchOperation { BranchKind: BranchKind.Break or BranchKind.GoTo })
                    return true;
        }
        return false;
    }

    /// <summary>
    /// Does a test read state that may change while the task sleeps: a field, property, array element or call
    /// (a device flag, <c>kthread_should_stop()</c>, <c>signal_pending(current)</c>, <c>jiffies</c>), a local a
    /// lambda or local function shares, or a local the loop sets from such state (<c>done = dev.ready;</c>)?
    /// Locals and by-value parameters alone (a try counter, a flag nothing sets) are not the wait condition.
    /// </summary>
    private static bool ReadsSharedState(IOperation test, ILoopOperation loop, IOperation function, int depth)
    {
        foreach (var op in test.DescendantsAndSelf())
        {
            switch (op)
            {
                case IFieldReferenceOperation or IPropertyReferenceOperation or IArrayElementReferenceOperation or IEventReferenceOperation
                    or IInvocationOperation or IDynamicInvocationOperation or IDynamicMemberReferenceOperation or IDynamicIndexerAccessOperation:
                    return true;
                case IParameterReferenceOperation { Parameter.RefKind: not RefKind.None }:
                    return true;
                case ILocalReferenceOperation { Local: var local } when local.RefKind != RefKind.None || IsShared(local, function) || (depth < 3 && LoopSetsFromSharedState(local, loop, function, depth)):
                    return true;
            }
        }
        return false;
    }

    private static bool IsShared(ILocalSymbol local, IOperation function)
    {
        foreach (var op in function.DescendantsAndSelf())
        {
            if (op is not (IAnonymousFunctionOperation or ILocalFunctionOperation))
                continue;
            foreach (var inner in op.Descendants())
                if (inner is ILocalReferenceOperation r && SymbolEqualityComparer.Default.Equals(r.Local, local))
                    return true;
        }
        return false;
    }

    private static bool LoopSetsFromSharedState(ILocalSymbol local, ILoopOperation loop, IOperation function, int depth)
    {
        foreach (var op in loop.DescendantsAndSelf())
        {
            switch (op)
            {
                // Passed by ref or out: the callee sets it, from whatever state it reads.
                case IArgumentOperation { Value: ILocalReferenceOperation t, Parameter.RefKind: RefKind.Ref or RefKind.Out } when SymbolEqualityComparer.Default.Equals(t.Local, local):
                    return true;
                // Simple, compound (+=) and ??= assignments alike.
                case IAssignmentOperation { Target: ILocalReferenceOperation t } a when SymbolEqualityComparer.Default.Equals(t.Local, local) && ReadsSharedState(a.Value, loop, function, depth + 1):
                    return true;
                // One of a deconstruction's targets: set from shared state when any of the values is.
                case ILocalReferenceOperation t when SymbolEqualityComparer.Default.Equals(t.Local, local) && Eval.DeconstructionAssigning(t) is { } d && ReadsSharedState(d.Value, loop, function, depth + 1):
                    return true;
            }
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
            root = p;
            if (p is IAnonymousFunctionOperation or ILocalFunctionOperation)
                break;
        }
        for (var p = inv.Parent; p is not null && p != root.Parent; p = p.Parent)
            if (p is ILoopOperation loop && RetestsCondition(loop, root))
                return null;
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
