using System.Collections.Generic;
using System.Linq;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// KH6002: <c>current.mm.X</c> in code reachable from a kernel thread — a callback registered in process
/// context (kthread_run's threadfn, a work item, a threaded IRQ's thread_fn) or a method called from one,
/// through any depth of calls — when the function never tests <c>current.mm</c> against null.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class KernelThreadMmDereferenceAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH6002;

    private protected override void AnalyzeFile(FileContext file)
    {
        // Cheap syntactic filter first: most files, and most functions, never mention mm. The file is searched once;
        // a function is looked at when the declaration holding its body is among those that mention it.
        var index = file.Model.Index;
        var mentioning = index.DeclarationsMentioning(file.Tree, "mm");
        if (mentioning.IsEmpty)
            return;
        foreach (var fn in file.Methods)
            if (index.BodyOf(fn) is { } body && index.DeclarationOf(fn) is { } declaration && mentioning.Contains(declaration))
                CheckMentioning(file, fn, body);
    }

    private static void CheckMentioning(FileContext file, IMethodSymbol fn, IOperation body)
    {
        var model = file.Model;
        var k = model.Symbols;
        var ops = Eval.OwnOperations(body).ToList();
        var derefs = ops.OfType<IMemberReferenceOperation>().Where(m => m.Instance is not null && IsCurrentMm(k, m.Instance)).OrderBy(m => m.Syntax.SpanStart).ToList();
        if (derefs.Count == 0 || ops.Any(o => IsNullTest(k, o)))
            return;
        // Its registration as a kernel thread or work item, or a caller's.
        var reached = model.EntryReaching(fn, o => o.IsRegistration && o.Context == Ctx.Process, maxDepth: 8);
        if (reached is null)
            return;
        var why = reached.Value.Origin.Description;
        // One finding per statement: `current.mm.brk - current.mm.start_brk` is one mistake, fixed by one check.
        var reported = new HashSet<SyntaxNode>();
        foreach (var d in derefs)
            if (reported.Add(d.Syntax.FirstAncestorOrSelf<Microsoft.CodeAnalysis.CSharp.Syntax.StatementSyntax>() ?? d.Syntax))
                file.Report(Diagnostic.Create(Descriptors.KH6002, d.Syntax.GetLocation(), d.Syntax.ToString(), why));
    }

    private static bool IsCurrentMm(KernelSymbols k, IOperation op)
        => Eval.Unwrap(op) is IFieldReferenceOperation { Field.Name: "mm", Instance: IPropertyReferenceOperation cur } && k.RoleOf(cur.Property) == Role.CurrentTask;

    private static bool IsNullTest(KernelSymbols k, IOperation op) => op switch
    {
        IBinaryOperation { OperatorKind: BinaryOperatorKind.Equals or BinaryOperatorKind.NotEquals } b =>
            (IsCurrentMm(k, b.LeftOperand) && b.RightOperand.ConstantValue is { HasValue: true, Value: null })
            || (IsCurrentMm(k, b.RightOperand) && b.LeftOperand.ConstantValue is { HasValue: true, Value: null }),
        IIsPatternOperation ip => IsCurrentMm(k, ip.Value),
        _ => false,
    };
}
