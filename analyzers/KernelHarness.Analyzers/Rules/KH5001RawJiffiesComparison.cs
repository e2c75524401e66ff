using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Runtime.CompilerServices;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// KH5001: <c>&lt;</c>, <c>&gt;</c>, <c>&lt;=</c>, <c>&gt;=</c> between a jiffies time and another value. A time is
/// <c>jiffies</c>, a time plus or minus a duration (<c>jiffies + HZ</c>), or a local, field, property or
/// parameter that is assigned a time anywhere in the compilation (flow-insensitive, to a fixpoint). The
/// difference of two times is a duration, so <c>jiffies - start &gt; HZ</c> is the wrap-safe form and is silent.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class RawJiffiesComparisonAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH5001;

    private protected override void AnalyzeFile(FileContext file)
    {
        var model = file.Model;
        foreach (var site in file.Operations(OperationKind.Binary))
        {
            var b = (IBinaryOperation)site.Operation;
            string? fn = b.OperatorKind switch
            {
                BinaryOperatorKind.GreaterThan => "time_after",
                BinaryOperatorKind.LessThan => "time_before",
                BinaryOperatorKind.GreaterThanOrEqual => "time_after_eq",
                BinaryOperatorKind.LessThanOrEqual => "time_before_eq",
                _ => null,
            };
            if (fn is null || b.OperatorMethod is not null)
                continue;
            var times = JiffiesTimes.Get(model);
            bool l = times.IsTime(b.LeftOperand), r = times.IsTime(b.RightOperand);
            if (!(l || r))
                continue;
            if ((l && !r && b.RightOperand.ConstantValue.HasValue) || (r && !l && b.LeftOperand.ConstantValue.HasValue))
                continue;
            var replacement = fn + "(" + Arg(b.LeftOperand) + ", " + Arg(b.RightOperand) + ")";
            var op = b.Syntax is BinaryExpressionSyntax bs ? bs.OperatorToken.Text : "<";
            var props = ImmutableDictionary<string, string?>.Empty.Add("Replacement", replacement);
            file.Report(Diagnostic.Create(Descriptors.KH5001, b.Syntax.GetLocation(), props, b.Syntax.ToString(), op, replacement));
        }
    }

    /// <summary>The operand as a time_after argument (unsigned long): a cast where C# would not convert implicitly.</summary>
    private static string Arg(IOperation op)
    {
        var text = op.Syntax.ToString();
        var t = Eval.Unwrap(op).Type?.SpecialType;
        if (t is SpecialType.System_UInt64 or SpecialType.System_UInt32 or SpecialType.System_UInt16 or SpecialType.System_Byte)
            return Eval.Unwrap(op).Syntax.ToString();
        return "(ulong)" + (op.Syntax is IdentifierNameSyntax or MemberAccessExpressionSyntax or InvocationExpressionSyntax or ParenthesizedExpressionSyntax ? text : "(" + text + ")");
    }
}

/// <summary>Which symbols hold a jiffies time, computed once per compilation (shared by KH5001's fix and rule).</summary>
internal sealed class JiffiesTimes
{
    private static readonly ConditionalWeakTable<CompilationModel, JiffiesTimes> Cache = new();
    private readonly KernelSymbols k;
    private readonly HashSet<ISymbol> times = new(SymbolEqualityComparer.Default);

    private JiffiesTimes(CompilationModel model)
    {
        k = model.Symbols;
        // Values flow from jiffies to the symbols assigned from it, and on from those: only the code that
        // mentions jiffies or a symbol already known to hold a time is bound, name by name, to a fixpoint.
        var flows = new List<(ISymbol Target, IOperation Value)>();
        var seenOps = new HashSet<IOperation>();
        var pending = new Queue<ISymbol>(k.Kernel.GetMembers().Where(m => k.RoleOf(m) == Role.Jiffies));
        var queued = new HashSet<ISymbol>(pending, SymbolEqualityComparer.Default);
        while (pending.Count > 0)
        {
            var symbol = pending.Dequeue();
            foreach (var kind in FlowKinds)
                foreach (var site in model.Index.OperationsMentioning(symbol, kind))
                    if (seenOps.Add(site.Operation))
                        AddFlows(site.Operation, flows);
            bool changed = true;
            for (int round = 0; changed && round < 8; round++)
            {
                changed = false;
                foreach (var (target, value) in flows)
                    if (!times.Contains(target) && IsTime(value))
                        changed |= times.Add(target);
            }
            foreach (var t in times)
                if (queued.Add(t))
                    pending.Enqueue(t);
        }
    }

    private static readonly OperationKind[] FlowKinds =
    {
        OperationKind.SimpleAssignment, OperationKind.VariableInitializer, OperationKind.FieldInitializer,
        OperationKind.PropertyInitializer, OperationKind.Argument,
    };

    private static void AddFlows(IOperation op, List<(ISymbol Target, IOperation Value)> flows)
    {
        switch (op)
        {
            case ISimpleAssignmentOperation sa when Target(sa.Target) is { } t:
                flows.Add((t, sa.Value));
                break;
            case IVariableInitializerOperation vi when vi.Parent is IVariableDeclaratorOperation vd:
                flows.Add((vd.Symbol, vi.Value));
                break;
            case IFieldInitializerOperation fi:
                foreach (var f in fi.InitializedFields)
                    flows.Add((f, fi.Value));
                break;
            case IPropertyInitializerOperation pi:
                foreach (var p in pi.InitializedProperties)
                    flows.Add((p, pi.Value));
                break;
            case IArgumentOperation ao when ao.Parameter is { } param && param.Locations.Any(l => l.IsInSource):
                flows.Add((param.OriginalDefinition, ao.Value));
                break;
        }
    }

    public static JiffiesTimes Get(CompilationModel model) => Cache.GetValue(model, m => new JiffiesTimes(m));

    private static ISymbol? Target(IOperation op) => Eval.Unwrap(op) switch
    {
        ILocalReferenceOperation l => l.Local,
        IFieldReferenceOperation f => f.Field.OriginalDefinition,
        IPropertyReferenceOperation p when p.Arguments.IsEmpty => p.Property.OriginalDefinition,
        IParameterReferenceOperation p => p.Parameter.OriginalDefinition,
        _ => null,
    };

    /// <summary>Is the value a point in jiffies time (not a duration)?</summary>
    public bool IsTime(IOperation op)
    {
        op = Eval.Unwrap(op);
        switch (op)
        {
            case IPropertyReferenceOperation p when k.RoleOf(p.Property) == Role.Jiffies:
                return true;
            case IFieldReferenceOperation f when k.RoleOf(f.Field) == Role.Jiffies:
                return true;
            case IBinaryOperation { OperatorKind: BinaryOperatorKind.Add } add:
                return IsTime(add.LeftOperand) ^ IsTime(add.RightOperand);
            case IBinaryOperation { OperatorKind: BinaryOperatorKind.Subtract } sub:
                return IsTime(sub.LeftOperand) && !IsTime(sub.RightOperand);
            case IConditionalOperation c when c.WhenFalse is not null:
                return IsTime(c.WhenTrue) || IsTime(c.WhenFalse);
        }
        var s = Target(op);
        return s is not null && times.Contains(s);
    }
}
