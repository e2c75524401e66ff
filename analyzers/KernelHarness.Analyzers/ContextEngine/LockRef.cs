using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.ContextEngine;

/// <summary>
/// The identity of a lock (or a saved-flags variable, or a branch condition): the place it lives,
/// as a root (this, a parameter, a local, a static field) and a member path. Keys are strings so
/// that states compare cheaply; a callee's key is moved into the caller's frame by <see cref="Rebase"/>.
/// </summary>
internal static class LockRef
{
    public const string This = "this";

    /// <summary>The key of the place an expression denotes, or null when it is not a plain place.</summary>
    public static string? KeyOf(IOperation? op)
    {
        switch (op)
        {
            case null:
                return null;
            case IConversionOperation c:
                return KeyOf(c.Operand);
            case IParenthesizedOperation p:
                return KeyOf(p.Operand);
            case IInstanceReferenceOperation:
                return This;
            case IParameterReferenceOperation p:
                return "p:" + p.Parameter.Name;
            case ILocalReferenceOperation l:
                return LocalKey(l.Local);
            case IDeclarationExpressionOperation d:
                return KeyOf(d.Expression);
            case IFieldReferenceOperation f:
                if (f.Field.IsStatic)
                    return "s:" + f.Field.ContainingType.Name + "." + f.Field.Name;
                var inner = f.Instance is null ? This : KeyOf(f.Instance);
                return inner is null ? null : inner + "." + f.Field.Name;
            case IPropertyReferenceOperation pr when pr.Arguments.Length == 0:
                if (pr.Property.IsStatic)
                    return "s:" + pr.Property.ContainingType.Name + "." + pr.Property.Name;
                var pi = pr.Instance is null ? This : KeyOf(pr.Instance);
                return pi is null ? null : pi + "." + pr.Property.Name;
            default:
                return null;
        }
    }

    /// <summary>The key of a local variable.</summary>
    public static string LocalKey(ILocalSymbol local) => "l:" + local.Name;

    /// <summary>Does the key path <paramref name="path"/> name <paramref name="key"/>'s place itself or a member under it (<c>key.field</c>)?</summary>
    public static bool IsSameOrUnder(string path, string key)
        => path.StartsWith(key, System.StringComparison.Ordinal) && (path.Length == key.Length || path[key.Length] == '.');

    /// <summary>How a student wrote it: the expression's text without a leading <c>this.</c>.</summary>
    public static string Display(IOperation op)
    {
        if (op.Syntax is Microsoft.CodeAnalysis.CSharp.Syntax.DeclarationExpressionSyntax dx)
            return dx.Designation.ToString();
        var text = op.Syntax.ToString();
        if (op is IDeclarationExpressionOperation or IArgumentOperation)
            text = text.Replace("out var ", "").Replace("out ", "");
        if (text.StartsWith("out ", System.StringComparison.Ordinal))
            text = text.Substring(4).Replace("var ", "");
        if (text.StartsWith("this.", System.StringComparison.Ordinal))
            text = text.Substring(5);
        return text;
    }

    public static bool IsLocalRooted(string key) => key.StartsWith("l:", System.StringComparison.Ordinal);

    /// <summary>True when callers can name the place (this, a parameter or a static field).</summary>
    public static bool IsVisibleToCallers(string key)
        => key == This || key.StartsWith(This + ".", System.StringComparison.Ordinal) || key.StartsWith("p:", System.StringComparison.Ordinal) || key.StartsWith("s:", System.StringComparison.Ordinal);

    /// <summary>
    /// Moves a callee-frame key into the caller's frame: <c>this</c> becomes the receiver's key, a
    /// parameter the argument's key; statics stay; locals have no meaning outside and give null.
    /// </summary>
    public static string? Rebase(string key, IInvocationOperation call)
    {
        if (key.StartsWith("s:", System.StringComparison.Ordinal))
            return key;
        string root;
        string rest;
        int dot = key.IndexOf('.');
        if (dot < 0) { root = key; rest = ""; }
        else { root = key.Substring(0, dot); rest = key.Substring(dot); }
        if (root == This)
        {
            var recv = call.Instance is null ? This : KeyOf(call.Instance);
            return recv is null ? null : recv + rest;
        }
        if (root.StartsWith("p:", System.StringComparison.Ordinal))
        {
            var name = root.Substring(2);
            var arg = Summaries.Eval.Argument(call.Arguments, name);
            var argKey = arg is null ? null : KeyOf(arg.Value);
            return argKey is null ? null : argKey + rest;
        }
        return null;
    }

    /// <summary>
    /// Resolves an attribute's lock path (<c>"lock"</c>, <c>"dev.hw_lock"</c>, <c>"mm.mmap_lock"</c>,
    /// <c>"this.x"</c>, <c>"x"</c>) at a call: the first segment names a parameter, else a member of the receiver.
    /// </summary>
    public static (string? Key, string Display) ResolvePath(string path, IMethodSymbol method, IInvocationOperation? call)
    {
        // Asked at every lock call the engine follows, nearly always with a one-part path ("lock"): split without
        // making an array, and the parameter found without a closure.
        int dot = path.IndexOf('.');
        string first = dot < 0 ? path : path.Substring(0, dot);
        string rest = dot < 0 ? "" : path.Substring(dot);
        IParameterSymbol? param = null;
        foreach (var p in method.Parameters)
        {
            if (p.Name == first)
            {
                param = p;
                break;
            }
        }
        if (param is not null)
        {
            if (call is null)
                return ("p:" + first + rest, path);
            IArgumentOperation? arg = null;
            foreach (var a in call.Arguments)
            {
                if (SymbolEqualityComparer.Default.Equals(a.Parameter, param))
                {
                    arg = a;
                    break;
                }
            }
            if (arg is null)
                return (null, path);
            var k = KeyOf(arg.Value);
            return (k is null ? null : k + rest, Display(arg.Value) + rest);
        }
        var memberPath = first == This ? rest : "." + path;
        if (method.IsStatic)
            return ("s:" + method.ContainingType.Name + memberPath, path);
        if (call is null)
            return (This + memberPath, path.StartsWith("this.", System.StringComparison.Ordinal) ? path.Substring(5) : path);
        var recv = call.Instance is null ? This : KeyOf(call.Instance);
        var recvText = call.Instance is null || call.Instance.IsImplicit || call.Instance is IInstanceReferenceOperation ? "" : Display(call.Instance) + ".";
        return (recv is null ? null : recv + memberPath, recvText + memberPath.TrimStart('.'));
    }
}
